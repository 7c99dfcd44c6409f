"""DynamoDB applies each request atomically; moto does not. A conditional write is a
read, a check and a write in Python, and two overlapping ``TransactWriteItems`` can
corrupt each other ("dictionary changed size during iteration"). Serializing moto's
DynamoDB requests restores the atomicity the real service guarantees, for the local
stack and for tests that send concurrently."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["serialize_dynamodb"]

_LOCK = threading.RLock()


def serialize_dynamodb() -> None:
    """Make every DynamoDB request to moto (in-process or server) run one at a time."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "serialized", False):
        return

    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    call_action.serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
