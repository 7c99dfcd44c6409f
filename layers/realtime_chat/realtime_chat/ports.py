"""Ports: what the use cases need from the outside world, as ``typing.Protocol``s.

Adapters in :mod:`realtime_chat.adapters` satisfy them against AWS; tests satisfy
them with small fakes. Use cases import from here, never from ``adapters``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from realtime_chat.domain import (
    Attempt,
    Checkpoint,
    Claim,
    Connection,
    Conversation,
    Identity,
    Message,
    ModelEvent,
    Page,
    PromptMessage,
    ReplyJob,
    Settled,
    Turn,
    TurnState,
)
from realtime_chat.model_options import ModelOption

__all__ = [
    "ApiKeySource",
    "ChatStore",
    "Clock",
    "ConnectionStore",
    "FrameSender",
    "FrameSenders",
    "LanguageModel",
    "LastTurn",
    "MessageClaim",
    "RateLimiter",
    "Refusal",
    "ReplyJobs",
    "Revision",
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
        """The user's connections that may receive the user's data at ``now``: the item's
        TTL has not passed and the token it connected with has not expired."""
        ...

    def set_subscriptions(self, connection_id: str, kinds: frozenset[str]) -> None: ...


class FrameSender(Protocol):
    def send(self, connection_id: str, frame: dict[str, Any]) -> None:
        """Post one frame; raises a ``DeliveryFailed``: ``ConnectionGone`` (410),
        ``ConnectionThrottled`` (429 after retries) or ``FrameTooLarge`` (413)."""
        ...


class FrameSenders(Protocol):
    """``@connections`` senders by endpoint URL (``https://{domainName}/{stage}``)."""

    def at(self, callback_url: str) -> FrameSender: ...


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

    def delete(self, user_id: str, conversation_id: str, *, stale_before: str) -> list[str]:
        """Close the conversation (out of the list, no reply may write to it) and delete
        its messages; the message ids of its replies that may still be sending (their
        job claimed the turn after ``stale_before``); while there are any, the closed
        conversation item stays until :meth:`forget`. Raises ``ConversationNotFound``."""
        ...

    def replies_sending(self, user_id: str, conversation_id: str) -> list[str]:
        """The message ids of the conversation's replies that have not said, with
        :meth:`reply_ended`, that they send nothing more."""
        ...

    def forget(self, user_id: str, conversation_id: str) -> None:
        """Delete what :meth:`delete` left of the conversation: its item."""
        ...

    def begin_turn(
        self,
        user_id: str,
        conversation_id: str,
        message: Message,
        *,
        title: str,
        client_message_id: str | None,
        reply: Message | None = None,
        model: str | None = None,
    ) -> Turn:
        """Store the user's message as a PENDING turn, creating the conversation on first
        use, and with it ``reply`` as the turn's ``streaming`` answer (as ``start_reply``
        would); ``model``, when given, is the conversation's model from now on. A
        ``client_message_id`` the user used before stores nothing and returns that first
        turn, whatever conversation this call named (``duplicate``). Raises
        ``ConversationNotFound`` when the conversation is being deleted."""
        ...

    def find_turn(self, user_id: str, client_message_id: str) -> Turn | None:
        """The turn a ``client_message_id`` started, if the user used it: PENDING with no
        content while the send that claimed the id is still storing it. Raises
        ``TurnConversationDeleted`` (naming the turn's conversation) when that
        conversation was deleted."""
        ...

    def retry_turn(
        self,
        user_id: str,
        conversation_id: str,
        message: Message,
        *,
        now: str,
        stale_before: str,
        reply: Message | None = None,
    ) -> bool:
        """Move a FAILED turn, or one PENDING since before ``stale_before`` (its reply died
        with its invocation), back to PENDING; True only for the one caller that did.
        With ``reply``, the retry's streaming answer is stored in the same write (so a
        stop finds it at once), as ``begin_turn`` stores a new turn's."""
        ...

    def finish_turn(
        self,
        user_id: str,
        conversation_id: str,
        question: Message,
        *,
        reply: Message | None,
        state: TurnState,
        started: Message | None = None,
        attempt: Attempt | None = None,
        stop_wins: bool = False,
    ) -> Settled:
        """Store the reply (if any; over its ``started`` streaming self) and the turn's
        final state, atomically, only while the conversation exists: raises
        ``ConversationNotFound`` once it is deleted. With ``attempt``, only while that
        attempt owns the turn (else ``LOST``); with ``stop_wins``, only while no stop
        was requested of ``started`` (else ``STOP_REQUESTED``, the reply may then be
        stored as stopped). Either way nothing is
        written unless it returns ``WRITTEN``."""
        ...

    def claim_turn(
        self, user_id: str, conversation_id: str, attempt: Attempt, *, now: str
    ) -> Claim:
        """Make ``attempt`` the one reply that answers its turn: ``OWNED`` only for the
        first attempt to claim a pending turn (a retry of the turn lets a new attempt
        claim it, once the old claim is older than a reply may run)."""
        ...

    def fail_unstarted(self, user_id: str, conversation_id: str, attempt: Attempt) -> bool:
        """Mark the turn of a reply that could not start (its claim or its first write
        raised) FAILED, so that a retry runs it, removing ``attempt.reply`` (its empty
        answer); only while the turn is pending and nobody else claimed it. False when
        another attempt answers it, or the conversation was deleted."""
        ...

    def start_reply(self, user_id: str, conversation_id: str, reply: Message) -> None:
        """Store the reply as a ``streaming`` message that a stop can find; raises
        ``ConversationNotFound`` when the conversation is gone."""
        ...

    def checkpoint(
        self, user_id: str, conversation_id: str, reply: Message, *, seq: int
    ) -> Checkpoint:
        """Store a streaming reply's text so far: one write, which also tells whether a
        stop was requested or the conversation was deleted."""
        ...

    def reply_ended(self, user_id: str, conversation_id: str, reply: Message) -> None:
        """A reply that found its conversation deleted says it sends nothing more (so
        that the delete, waiting on it, may tell the user); after :meth:`forget`, a
        no-op."""
        ...

    def request_stop(self, user_id: str, conversation_id: str, *, stale_before: str) -> list[str]:
        """Ask the replies streaming in the conversation (started after ``stale_before``)
        to stop; their message ids. Raises ``ConversationNotFound``."""
        ...

    def last_turn(self, user_id: str, conversation_id: str) -> LastTurn | None:
        """The conversation's newest user message, its turn and its current answer (each
        with its ``versions``); None when it has none. Raises ``ConversationNotFound``."""
        ...

    def revise_turn(
        self,
        user_id: str,
        conversation_id: str,
        last: LastTurn,
        answer: Message,
        *,
        client_message_id: str | None,
        now: str,
        stale_before: str,
        text: str | None = None,
        model: str | None = None,
    ) -> Revision:
        """Answer ``last`` again, atomically: its current answer (if any) becomes an
        earlier version, ``text`` (when given: an edit) replaces the question's text,
        whose old text becomes an earlier version, the turn is PENDING again and
        ``answer`` is stored as its ``streaming`` answer (``model``, when given, is the
        conversation's model from now on). Only while the turn is as
        ``last`` saw it and not pending, unless pending since before
        ``stale_before`` (its reply died: else ``CHANGED``) and the ``client_message_id``
        is unused (else ``DUPLICATE``); nothing is written unless ``DONE``. Raises
        ``ConversationNotFound`` when the conversation is gone or being deleted."""
        ...

    def versions(
        self, user_id: str, conversation_id: str, message_id: str
    ) -> tuple[Sequence[Message], Sequence[Message]]:
        """The earlier texts and the earlier answers of the turn whose user message is
        ``message_id``, each oldest first (empty when it has none)."""
        ...


class ApiKeySource(Protocol):
    def api_key(self, *, refresh: bool = False) -> str:
        """The provider's API key; raises ``AiNotConfigured``. ``refresh`` skips the cache."""
        ...


class LanguageModel(Protocol):
    def stream(
        self,
        prompt: Sequence[PromptMessage],
        *,
        api_key: str,
        choice: ModelOption | None = None,
    ) -> Iterable[ModelEvent]:
        """Text deltas as they arrive (read once), then one ``Finished``. ``choice``:
        the conversation's allow-listed model, whose route answers (None: the default
        route). Raises
        ``ModelRejectedKey`` or ``ModelUnavailable``; retries happen inside, and only
        before the first delta.

        When the iterator has a ``close()``, a stop calls it from another thread while
        a read may be blocked: the iteration must then end promptly (raising is fine)."""
        ...


class ReplyJobs(Protocol):
    def submit(self, job: ReplyJob) -> None:
        """Start generating the reply outside the 29 s API Gateway integration window."""
        ...


class Revision(StrEnum):
    """What ``ChatStore.revise_turn`` did."""

    DONE = "done"  # stored: the turn is pending with its new streaming answer
    CHANGED = "changed"  # the turn moved on (answered again, edited, pending): nothing
    DUPLICATE = "duplicate"  # the clientMessageId was used before: nothing


@dataclass(frozen=True, slots=True)
class LastTurn:
    """A conversation's last turn as regenerate and edit see it: ``turn.message`` is the
    user's message (``versions``: its texts), ``turn.reply`` its current answer
    (``versions``: the answers it has had); ``earlier_answers`` counts those kept as
    earlier versions, also when there is no current answer."""

    turn: Turn
    earlier_texts: int = 0
    earlier_answers: int = 0


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a chat message may not be sent now, and when it may."""

    retry_after: int  # seconds
    daily_budget: bool = False  # the day's AI tokens are used up (else: too many a minute)
    # Not charged: the message's clientMessageId is already another send's (stored, or
    # being stored right now). Answer it as a retry of that turn.
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class MessageClaim:
    """A new message's ``clientMessageId``, taken in the same atomic write that charges
    the message: of several sends of one id, the one charged is the one that stores the
    turn, and the others see its ids at once, even before the turn is stored."""

    client_message_id: str
    conversation_id: str
    message_id: str
    timestamp: str


class RateLimiter(Protocol):
    def acquire(
        self, user_id: str, *, now: float, claim: MessageClaim | None = None
    ) -> Refusal | None:
        """Count one chat message of ``user_id``: None when allowed, else why not. With
        ``claim``, the message's ``clientMessageId`` is taken in the same write; one
        already taken charges nothing and is refused as ``duplicate``."""
        ...

    def spend(self, user_id: str, tokens: int, *, now: float) -> None:
        """Count AI tokens a reply used against the user's daily budget."""
        ...

    def release(self, user_id: str, *, claim: MessageClaim | None = None) -> None:
        """Give back one message counted by ``acquire`` (nothing was stored, or it turned
        out to be a retry), and the ``clientMessageId`` its ``claim`` took, unless a
        turn was stored under it."""
        ...
