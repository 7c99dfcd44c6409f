"""A chat turn, accepted: validate, store the user's message as a pending turn,
acknowledge it to every connection of the user and hand a ``ReplyJob`` to the
asynchronous reply (:mod:`realtime_chat.usecases.reply`), all inside the API Gateway
route's 29 s window.

A retry (the same ``clientMessageId``) never stores a second message: it gets the
first turn's acknowledgement, plus its stored answer when there is one, and runs the
reply again only when the first one failed or died with its invocation; only that
costs a message (and is refused like one). A new message's ``clientMessageId`` is
claimed in the same write that charges it, so a duplicate sent at the same moment
from another tab is answered as a retry, never refused for a message accepted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from realtime_chat import frames
from realtime_chat.domain import Message, MessageStatus, ReplyJob, Role, Turn, TurnState
from realtime_chat.errors import (
    ChatError,
    ConversationNotFound,
    ErrorCode,
    TurnConversationDeleted,
)
from realtime_chat.observability import logger
from realtime_chat.ports import (
    ChatStore,
    ConnectionStore,
    MessageClaim,
    RateLimiter,
    Refusal,
    ReplyJobs,
)
from realtime_chat.protocol import ChatMessage
from realtime_chat.titles import auto_title
from realtime_chat.usecases.context import Context
from realtime_chat.usecases.reply_delivery import ReplyDelivery

__all__ = ["ReplyStarter", "accept_message", "new_id", "refused"]


def new_id() -> str:
    return uuid.uuid4().hex


def accept_message(
    ctx: Context,
    command: ChatMessage,
    *,
    chat: ChatStore,
    connections: ConnectionStore,
    jobs: ReplyJobs,
    limiter: RateLimiter,
    callback_url: str,
    reply_timeout: int,
) -> None:
    user_id = ctx.require_user("chat_message")
    starter = ReplyStarter(
        ctx,
        command.client_message_id,
        chat,
        jobs,
        limiter,
        callback_url,
        reply_timeout,
        model=command.model,
    )
    cid = command.client_message_id
    message = Message(
        message_id=new_id(), role=Role.USER, content=command.message, timestamp=frames.iso(ctx.now)
    )
    conversation_id = command.conversation_id or new_id()
    claim = (
        None
        if cid is None
        else MessageClaim(cid, conversation_id, message.message_id, message.timestamp)
    )
    for _ in range(_CLAIM_ATTEMPTS):
        refusal = limiter.acquire(user_id, now=ctx.now, claim=claim)
        if refusal is None:
            break
        # A retry of a turn already made (or being made by another tab right now) is
        # answered, not refused: it costs nothing unless it runs the model again.
        earlier = _find_turn(chat, user_id, cid) if cid is not None else None
        if earlier is not None:
            starter.answer_retry(earlier)
            return
        if not refusal.duplicate:
            raise refused(refusal)
        # The send that held the id gave it back (it stored nothing): try again.
    else:
        raise ChatError.internal("The message could not be accepted.", ctx.request_id)
    # The answer is stored with the turn, streaming and empty, so that the reply need
    # not store it first (one write less per turn) and a stop can find it at once. A
    # millisecond later than the question, so that it sorts after it.
    answer = _placeholder(ctx.now)
    try:
        turn = chat.begin_turn(
            user_id,
            conversation_id,
            message,
            title=auto_title(command.message),
            client_message_id=cid,
            reply=answer,
            model=command.model,
        )
    except ConversationNotFound as err:
        limiter.release(user_id, claim=claim)
        if isinstance(err, TurnConversationDeleted):
            raise _turn_deleted(err) from None
        raise ChatError(
            ErrorCode.NOT_FOUND,
            f"Conversation '{conversation_id}' was deleted.",
            field="conversationId",
        ) from None
    except Exception:
        limiter.release(user_id, claim=claim)  # nothing was stored: nothing is charged
        raise
    if turn.duplicate:  # only when the limiter claims nothing (no limits set)
        limiter.release(user_id)
        starter.answer_retry(turn)
        return
    # The sender's acknowledgement leaves at once; the user's other tabs get it as
    # soon as they are looked up, while it is on its way.
    acknowledgement = frames.message_received(turn, cid)
    delivery = ReplyDelivery([ctx.connection_id], sender=ctx.sender, on_gone=connections.delete)
    delivery.publish(acknowledgement)
    known = connections.connections_of(user_id, now=ctx.now)
    for other in known:
        delivery.join(other.connection_id, acknowledgement)
    delivery.close()
    # The reply starts streaming to these without looking them up again.
    starter.start(turn, tuple((c.connection_id, c.live_until) for c in known), answer)


_CLAIM_ATTEMPTS = 3  # each lost one means a send of the same id stored nothing: bounded


def _placeholder(now: float) -> Message:
    """The answer a reply fills, streaming and empty, a millisecond after ``now``."""
    return Message(
        new_id(), Role.ASSISTANT, "", frames.iso(now + 0.001), status=MessageStatus.STREAMING
    )


def _find_turn(chat: ChatStore, user_id: str, client_message_id: str) -> Turn | None:
    try:
        return chat.find_turn(user_id, client_message_id)
    except TurnConversationDeleted as err:
        raise _turn_deleted(err) from None


def _turn_deleted(err: TurnConversationDeleted) -> ChatError:
    """A retry whose turn went with its conversation: say which one, and what to do."""
    return ChatError(
        ErrorCode.NOT_FOUND,
        f"This clientMessageId was first sent in conversation '{err.conversation_id}', "
        "which was deleted. Send the message again with a new clientMessageId.",
        field="clientMessageId",
        extra={"conversationId": err.conversation_id},
    )


def refused(refusal: Refusal) -> ChatError:
    wait = refusal.retry_after
    return ChatError(
        ErrorCode.RATE_LIMITED,
        f"Your daily AI token budget is used up; it renews at 00:00 UTC, in {wait} s."
        if refusal.daily_budget
        else f"Too many chat messages. Try again in {wait} s.",
        retryable=True,
        retry_after=wait,
    )


@dataclass(frozen=True, slots=True)
class ReplyStarter:
    """Starting, or starting again, the reply of a turn that this request sent or retried
    (a ``chat_message``; a ``regenerate_reply`` or ``edit_message`` too)."""

    ctx: Context
    client_message_id: str | None
    chat: ChatStore
    jobs: ReplyJobs
    limiter: RateLimiter
    callback_url: str
    reply_timeout: int
    model: str | None = None  # the model the request chose (None: the conversation's)

    def answer_retry(self, turn: Turn) -> None:
        """A retried ``clientMessageId``: the same acknowledgement, then by the turn's
        state the stored answer (answered: free), a new reply (failed, or pending for
        longer than a reply may run: it died with its invocation; charged and refused
        like a new message) or nothing (pending: free)."""
        ctx = self.ctx
        received = frames.message_received(turn, self.client_message_id)
        user_id = ctx.identity.user_id
        stale_before = frames.iso(ctx.now - self.reply_timeout)
        if turn.state is TurnState.ANSWERED or (
            turn.state is TurnState.PENDING and turn.message.timestamp >= stale_before
        ):
            ctx.reply(received)  # pending: its reply is being generated, for every connection
            if turn.reply is not None:
                stored = frames.ai_response(user_id, turn.conversation_id, turn.reply)
                ctx.reply(frames.fit_content(stored))
            return
        # Running the model again costs what a new message costs.
        refusal = self.limiter.acquire(user_id, now=ctx.now)
        if refusal is not None:
            ctx.reply(received)
            err = refused(refusal)
            err.extra["conversationId"] = turn.conversation_id
            raise err
        # Stored in the retry's own write, as a new turn's is, and acknowledged after
        # it: a stop sent on the acknowledgement finds the answer.
        answer = _placeholder(ctx.now)
        try:
            retried = self.chat.retry_turn(
                user_id,
                turn.conversation_id,
                turn.message,
                now=frames.iso(ctx.now),
                stale_before=stale_before,
                reply=answer,
            )
        finally:
            ctx.reply(received)
        if retried:
            self.start(turn, answer=answer)
        else:  # another retry runs it, or it is no longer failed
            self.limiter.release(user_id)

    def start(
        self,
        turn: Turn,
        connections: tuple[tuple[str, int], ...] | None = None,
        answer: Message | None = None,
    ) -> None:
        """Hand the turn to its reply; ``answer`` when it was stored with the turn."""
        ctx = self.ctx
        job = ReplyJob(
            user_id=ctx.identity.user_id,
            conversation_id=turn.conversation_id,
            message_id=turn.message.message_id,
            message_timestamp=turn.message.timestamp,
            content=turn.message.content,
            request_id=ctx.request_id,
            connection_id=ctx.connection_id,
            callback_url=self.callback_url,
            client_message_id=self.client_message_id,
            token_expires_at=ctx.identity.token_expires_at or 0,
            connections=connections,
            reply_id=answer.message_id if answer else None,
            reply_timestamp=answer.timestamp if answer else None,
            model=self.model,
        )
        try:
            self.jobs.submit(job)
        except Exception:
            # The reply never started: the turn fails, so a retry of it runs the reply.
            logger.exception("could not start the reply")
            self.chat.finish_turn(
                job.user_id,
                job.conversation_id,
                turn.message,
                reply=None,
                state=TurnState.FAILED,
                started=answer,
            )
            raise ChatError.internal("The reply could not be started.", ctx.request_id) from None
