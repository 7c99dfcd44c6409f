"""The local stack: template.yaml run on this machine with moto as the embedded AWS."""

__all__: list[str] = []
