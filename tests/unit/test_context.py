"""A request's context: who asks, and the refusals every action shares."""

from __future__ import annotations

import pytest

from realtime_chat.domain import Identity
from realtime_chat.errors import ChatError, ErrorCode
from realtime_chat.usecases.context import Context
from tests.support.fakes import RecordingSender

NOW = 1_800_000_000.0


def test_anonymous_chat_message_error_matches_what_junokit_clients_expect() -> None:
    ctx = Context("conn-9", "req-9", Identity.anonymous(), 0, NOW, RecordingSender())
    with pytest.raises(ChatError) as raised:
        ctx.require_user("chat_message")
    err = raised.value
    assert err.code is ErrorCode.AUTH_REQUIRED
    # The literal text Junokit's clients match on: a wording change must fail here.
    assert err.message == (
        "Authentication required for chat messages. Please sign in to use real-time chat."
    )
    assert err.extra["debugInfo"] == {
        "connectionId": "conn-9",
        "userId": "anonymous",
        "requiresAuth": True,
        "action": "chat_message",
    }
