"""Domain values: who is connected, and the conversations and messages they own.

All values are frozen and snake_case; the wire format (camelCase JSON) lives in
:mod:`realtime_chat.frames` and :mod:`realtime_chat.events`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

__all__ = [
    "ANONYMOUS_USER_ID",
    "Attempt",
    "Checkpoint",
    "Claim",
    "Connection",
    "Conversation",
    "Finished",
    "Identity",
    "Message",
    "MessageStatus",
    "ModelEvent",
    "Page",
    "PromptMessage",
    "ReplyJob",
    "Role",
    "Settled",
    "TextDelta",
    "Turn",
    "TurnState",
]

ANONYMOUS_USER_ID = "anonymous"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is behind a connection, established once at ``$connect``."""

    user_id: str
    email: str | None = None
    is_authenticated: bool = False
    token_expires_at: int | None = None  # epoch seconds; None for anonymous

    @classmethod
    def anonymous(cls) -> Identity:
        return cls(user_id=ANONYMOUS_USER_ID)

    def is_expired(self, now: float) -> bool:
        """True once an authenticated identity's token has passed its ``exp``."""
        return self.token_expires_at is not None and now >= self.token_expires_at


@dataclass(frozen=True, slots=True)
class Connection:
    """One open WebSocket connection, as stored in the connections table."""

    connection_id: str
    identity: Identity
    connected_at: int  # epoch milliseconds, from API Gateway
    expires_at: int  # epoch seconds: the item's TTL (API Gateway closes at 2 h)
    subscriptions: frozenset[str] | None = None  # None: every notification type

    @property
    def live_until(self) -> int:
        """Epoch seconds from which it must receive none of the user's data."""
        token = self.identity.token_expires_at
        return self.expires_at if token is None else min(self.expires_at, token)


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class MessageStatus(StrEnum):
    """Where a stored message stands; ``chat_history`` shows it."""

    STREAMING = "streaming"  # a reply being generated: its text as of the last checkpoint
    COMPLETE = "complete"
    STOPPED = "stopped"  # the user stopped the reply
    ERROR = "error"  # the reply broke off, or its invocation died


class Checkpoint(StrEnum):
    """What a streaming reply learns from writing its text so far."""

    CONTINUE = "continue"
    STOP = "stop"  # a connection of the user asked to stop it
    GONE = "gone"  # the conversation was deleted
    LOST = "lost"  # a retry took the turn over from this reply's attempt


class Claim(StrEnum):
    """What a reply job learns from claiming its turn before it asks the model."""

    OWNED = "owned"  # this attempt answers the turn
    ANSWERED = "answered"  # the turn is no longer pending: nothing to do
    TAKEN = "taken"  # another attempt owns the turn
    GONE = "gone"  # the conversation was deleted


class Settled(StrEnum):
    """What a reply's finishing write did."""

    WRITTEN = "written"  # the answer and the turn's end are stored
    STOP_REQUESTED = "stop_requested"  # a stop came first: nothing was written
    LOST = "lost"  # another attempt owns the turn: nothing was written


@dataclass(frozen=True, slots=True)
class Message:
    """One stored chat message."""

    message_id: str
    role: Role
    content: str
    timestamp: str  # ISO 8601, UTC, millisecond precision: sorts as text
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    status: MessageStatus = MessageStatus.COMPLETE
    provider: str | None = None  # which provider answered (``bedrock``, ``openai``)
    # How many versions this message has had (regenerated answers, edited questions),
    # this one the newest; the earlier ones are read with ``ChatStore.versions``.
    versions: int = 1
    # A streaming reply: when its job claimed the turn. Its run (at most the reply
    # timeout) counts from there, not from ``timestamp`` (the acknowledgement): a job
    # may start late.
    started_at: str | None = None


class TurnState(StrEnum):
    """Where a chat turn stands, kept on the user's stored message."""

    PENDING = "pending"  # accepted; the reply is being generated
    ANSWERED = "answered"  # the reply is stored
    FAILED = "failed"  # the reply failed; a retry of the turn runs it again


@dataclass(frozen=True, slots=True)
class Turn:
    """A user's message and what became of it. ``duplicate`` when the message's
    ``clientMessageId`` had been used before: this is the first turn, not a new one."""

    conversation_id: str
    message: Message
    state: TurnState
    reply: Message | None = None  # the stored answer, once ANSWERED
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation's summary: what the conversation list shows."""

    conversation_id: str
    title: str
    created_at: str
    updated_at: str
    model: str | None = None  # the allow-listed model it uses (None: the default)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of results and the opaque cursor to the next one (None at the end)."""

    items: tuple[T, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PromptMessage:
    """One message sent to the model: role is ``system``, ``user`` or ``assistant``."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The end of an answer: why it ended, which model (and provider) wrote it, and the
    tokens it used (``promptTokens``, ``completionTokens``, ``totalTokens``)."""

    reason: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    provider: str | None = None


ModelEvent = TextDelta | Finished


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a reply job: the question it answers and the id it claimed the turn
    with. Each run (a redelivered or a late job too) has an id of its own."""

    question: Message
    attempt_id: str
    reply: Message | None = None  # the streaming answer it fills, once known


@dataclass(frozen=True, slots=True)
class ReplyJob:
    """Work handed from the ``chat_message`` route to the asynchronous reply worker."""

    user_id: str
    conversation_id: str
    message_id: str  # the user's message the reply answers
    message_timestamp: str
    content: str
    request_id: str
    connection_id: str
    callback_url: str
    client_message_id: str | None = None
    token_expires_at: int = 0  # of the connection that sent it, epoch seconds (0: none)
    # The user's connections as the acknowledgement found them, each with the moment
    # (epoch seconds) it stops being one to send to; None: look them up.
    connections: tuple[tuple[str, int], ...] | None = None
    # The streaming answer stored with the turn (id, timestamp); None: the reply
    # stores its own (a retried turn's, or a job from an older version).
    reply_id: str | None = None
    reply_timestamp: str | None = None
    # The allow-listed model the conversation uses (``AiSettings.models``); None: the
    # conversation's own choice, else the default route.
    model: str | None = None
