"""Test fakes that satisfy the library's ports (checked by mypy like the adapters)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from realtime_chat.domain import Connection
from realtime_chat.errors import ConnectionGone


class RecordingSender:
    """Keeps every frame per connection; ids in ``gone`` answer like a 410."""

    def __init__(self, gone: set[str] | None = None) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.gone = gone or set()

    def send(self, connection_id: str, frame: dict[str, Any]) -> None:
        if connection_id in self.gone:
            raise ConnectionGone(connection_id)
        self.sent[connection_id].append(frame)


class MemoryConnections:
    def __init__(self, *connections: Connection) -> None:
        self.items = {c.connection_id: c for c in connections}
        self.deleted: list[str] = []
        self.subscriptions: dict[str, frozenset[str]] = {}

    def save(self, connection: Connection) -> None:
        self.items[connection.connection_id] = connection

    def delete(self, connection_id: str) -> None:
        self.deleted.append(connection_id)
        self.items.pop(connection_id, None)

    def connections_of(self, user_id: str, *, now: float) -> list[Connection]:
        return [
            c
            for c in self.items.values()
            if c.identity.user_id == user_id
            and c.expires_at > now
            and not c.identity.is_expired(now)
        ]

    def set_subscriptions(self, connection_id: str, kinds: frozenset[str]) -> None:
        self.subscriptions[connection_id] = kinds


class Senders:
    """Every endpoint answers through the same fake sender."""

    def __init__(self, sender: RecordingSender) -> None:
        self.sender = sender
        self.urls: list[str] = []

    def at(self, callback_url: str) -> RecordingSender:
        self.urls.append(callback_url)
        return self.sender
