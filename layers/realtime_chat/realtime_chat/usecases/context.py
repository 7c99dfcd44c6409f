"""The context one inbound frame is handled in: who sent it, from where, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from realtime_chat.domain import Connection, Identity
from realtime_chat.errors import ChatError, ErrorCode
from realtime_chat.ports import FrameSender
from realtime_chat.settings import MAX_CONNECTION_SECONDS

__all__ = ["AUTH_REQUIRED_FOR_CHAT", "Context"]

# The exact text Junokit clients match on.
AUTH_REQUIRED_FOR_CHAT = (
    "Authentication required for chat messages. Please sign in to use real-time chat."
)


@dataclass(frozen=True, slots=True)
class Context:
    connection_id: str
    request_id: str
    identity: Identity
    connected_at: int  # epoch ms
    now: float  # epoch seconds
    sender: FrameSender
    callback_url: str = ""  # the @connections endpoint ``sender`` posts to

    def reply(self, frame: dict[str, Any]) -> None:
        """Send a frame to the connection the request came from."""
        self.sender.send(self.connection_id, frame)

    @property
    def connection(self) -> Connection:
        """This connection, as known from the event alone (no database read)."""
        return Connection(
            connection_id=self.connection_id,
            identity=self.identity,
            connected_at=self.connected_at,
            expires_at=self.connected_at // 1000 + MAX_CONNECTION_SECONDS,
        )

    def require_user(self, action: str) -> str:
        """The signed-in user's id; raises AUTH_REQUIRED or TOKEN_EXPIRED otherwise."""
        if not self.identity.is_authenticated:
            if action == "chat_message":
                raise ChatError(
                    ErrorCode.AUTH_REQUIRED,
                    AUTH_REQUIRED_FOR_CHAT,
                    extra={
                        "debugInfo": {
                            "connectionId": self.connection_id,
                            "userId": self.identity.user_id,
                            "requiresAuth": True,
                            "action": action,
                        }
                    },
                )
            raise ChatError(
                ErrorCode.AUTH_REQUIRED,
                f"Authentication required for '{action}'. Reconnect with ?token=<Cognito JWT>.",
            )
        if self.identity.is_expired(self.now):
            raise ChatError(
                ErrorCode.TOKEN_EXPIRED,
                "Your sign-in token has expired. Reconnect with a fresh token.",
                retryable=True,
            )
        return self.identity.user_id
