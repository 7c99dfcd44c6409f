"""Notifying a user's other connections: gone ones are forgotten, the rest still hear."""

from __future__ import annotations

from typing import Any

import pytest

from realtime_chat.domain import Connection, Identity
from realtime_chat.errors import ConnectionThrottled, DeliveryFailed, FrameTooLarge
from realtime_chat.usecases.notify import notify_subscribed_connections
from tests.support.fakes import MemoryConnections, RecordingSender

NOW = 1_800_000_000.0
FRAME = {"type": "conversation_renamed", "conversationId": "c1", "title": "t"}


def _connection(connection_id: str, kinds: frozenset[str] | None = None) -> Connection:
    return Connection(connection_id, Identity("ada"), 0, int(NOW) + 600, kinds)


def _notify(connections: MemoryConnections, sender: Any) -> int:
    return notify_subscribed_connections(
        "ada", FRAME, exclude="laptop", now=NOW, connections=connections, sender=sender
    )


def test_a_connection_found_gone_is_forgotten_and_the_others_still_hear() -> None:
    # GIVEN ada's laptop (the sender), a closed tab and her phone
    connections = MemoryConnections(
        _connection("laptop"), _connection("closed-tab"), _connection("phone")
    )
    sender = RecordingSender(gone={"closed-tab"})
    # WHEN a frame goes to her other connections
    delivered = _notify(connections, sender)
    # THEN the closed tab is deleted, the phone got it, the sender did not
    assert connections.deleted == ["closed-tab"]
    assert sender.sent["phone"] == [FRAME] and "laptop" not in sender.sent
    assert delivered == 1


class Failing(RecordingSender):
    def __init__(self, failure: type[DeliveryFailed]) -> None:
        super().__init__()
        self._failure = failure

    def send(self, connection_id: str, frame: dict[str, Any]) -> None:
        if connection_id == "busy":
            raise self._failure(connection_id)
        super().send(connection_id, frame)


@pytest.mark.parametrize("failure", [ConnectionThrottled, FrameTooLarge])
def test_a_connection_the_frame_cannot_reach_is_skipped_and_kept(
    failure: type[DeliveryFailed],
) -> None:
    # GIVEN a connection @connections keeps throttling, or refuses the frame as too large
    connections = MemoryConnections(_connection("busy"), _connection("phone"))
    sender = Failing(failure)
    # WHEN a frame goes to ada's other connections
    delivered = _notify(connections, sender)
    # THEN the busy one is kept, and the phone still got it
    assert delivered == 1
    assert connections.deleted == [] and sender.sent["phone"] == [FRAME]


def test_only_connections_subscribed_to_the_frames_type_receive_it() -> None:
    connections = MemoryConnections(
        _connection("typing-only", frozenset({"typing"})), _connection("everything")
    )
    sender = RecordingSender()
    _notify(connections, sender)
    assert "typing-only" not in sender.sent and sender.sent["everything"] == [FRAME]
