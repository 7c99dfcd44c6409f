"""Use cases: plain functions that take a request and their ports as keyword arguments."""

__all__: list[str] = []
