"""Presence: typing and status reach the user's other connections that want them."""

from __future__ import annotations

from realtime_chat.domain import Connection, Identity
from realtime_chat.protocol import Typing
from realtime_chat.usecases.context import Context
from realtime_chat.usecases.presence import typing
from tests.support.fakes import MemoryConnections, RecordingSender

NOW = 1_800_000_000.0
ADA = Identity("ada", "ada@example.com", True, int(NOW) + 600)


def test_typing_reaches_the_users_other_connections_and_drops_gone_ones() -> None:
    # GIVEN ada on three connections, one of them gone, and bob on one
    def conn(cid: str, who: Identity, subs: frozenset[str] | None = None) -> Connection:
        return Connection(cid, who, 0, int(NOW) + 3600, subs)

    bob = Identity("bob", None, True, int(NOW) + 600)
    connections = MemoryConnections(
        conn("mine", ADA),
        conn("tab-2", ADA),
        conn("gone", ADA),
        conn("quiet", ADA, frozenset({"user_status_change"})),
        conn("bob-1", bob),
    )
    sender = RecordingSender(gone={"gone"})
    ctx = Context("mine", "req", ADA, 0, NOW, sender)
    # WHEN ada types
    typing(ctx, Typing("c1", True), connections=connections)
    # THEN she gets the acknowledgement, her subscribed tab the notification,
    # the gone connection is removed, and bob hears nothing
    assert sender.sent["mine"][0]["type"] == "typing_acknowledged"
    assert sender.sent["tab-2"] == [
        {"type": "user_typing", "conversationId": "c1", "isTyping": True, "userId": "ada"}
    ]
    assert "quiet" not in sender.sent
    assert connections.deleted == ["gone"]
    assert "bob-1" not in sender.sent
