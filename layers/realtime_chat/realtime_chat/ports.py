"""Ports: what the use cases need from the outside world, as ``typing.Protocol``s.

Adapters in :mod:`realtime_chat.adapters` satisfy them against AWS; tests satisfy
them with small fakes. Use cases import from here, never from ``adapters``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from realtime_chat.model import Connection, Conversation, Identity, Message, Page

__all__ = [
    "ChatStore",
    "Clock",
    "ConnectionStore",
    "FrameSender",
    "TokenVerifier",
]

Clock = Callable[[], float]  # epoch seconds


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Identity:
        """The identity a valid token proves; raises ``TokenRejected`` otherwise."""
        ...


class ConnectionStore(Protocol):
    def save(self, connection: Connection) -> None: ...

    def delete(self, connection_id: str) -> None:
        """Remove a connection; removing one that is not there is not an error."""
        ...

    def connections_of(self, user_id: str, *, now: float) -> Sequence[Connection]:
        """The user's connections whose TTL has not passed (stale items are skipped)."""
        ...

    def set_subscriptions(self, connection_id: str, kinds: frozenset[str]) -> None: ...


class FrameSender(Protocol):
    def send(self, connection_id: str, frame: dict[str, Any]) -> None:
        """Post one frame; raises ``ConnectionGone`` (410) or ``ConnectionThrottled`` (429)."""
        ...


class ChatStore(Protocol):
    def conversation(self, user_id: str, conversation_id: str) -> Conversation | None: ...

    def history(
        self, user_id: str, conversation_id: str, *, limit: int, before: str | None
    ) -> tuple[Sequence[Message], str | None]:
        """The newest ``limit`` messages older than ``before``, oldest first, and the
        cursor to the page before them (None when there is none)."""
        ...

    def conversations(self, user_id: str, *, limit: int, cursor: str | None) -> Page[Conversation]:
        """The user's conversations, most recently updated first."""
        ...

    def rename(self, user_id: str, conversation_id: str, title: str) -> Conversation:
        """Raises ``ConversationNotFound``."""
        ...

    def delete(self, user_id: str, conversation_id: str) -> None:
        """Delete the conversation and all its messages; raises ``ConversationNotFound``."""
        ...
