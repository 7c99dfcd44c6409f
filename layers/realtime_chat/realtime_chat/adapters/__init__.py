"""Adapters: the ports implemented against AWS services and the JWT library."""

__all__: list[str] = []
