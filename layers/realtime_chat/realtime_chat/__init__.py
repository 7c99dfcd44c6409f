"""The real-time chat backend's library: domain, use cases, ports and adapters.

The Lambda handlers in ``functions/`` are composition roots that build adapters
once (see :mod:`realtime_chat.composition`) and make one call into this package.
"""

__all__: list[str] = []
