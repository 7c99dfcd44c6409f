"""A chat turn, accepted: validate, store the user's message as a pending turn,
acknowledge it to every connection of the user and hand a ``ReplyJob`` to the
asynchronous reply (:mod:`realtime_chat.usecases.reply`), all inside the API Gateway
route's 29 s window.

A retry (the same ``clientMessageId``) never stores a second message: it gets the
first turn's acknowledgement, plus its stored answer when there is one, and runs the
reply again only when the first one failed or died with its invocation.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from realtime_chat import frames
from realtime_chat.errors import ChatError, ConversationNotFound, ErrorCode
from realtime_chat.model import Message, MessageStatus, ReplyJob, Role, Turn, TurnState
from realtime_chat.observability import logger
from realtime_chat.ports import ChatStore, ConnectionStore, RateLimiter, ReplyJobs
from realtime_chat.protocol import ChatMessage
from realtime_chat.usecases.broadcast import Broadcast
from realtime_chat.usecases.context import Context

__all__ = ["accept_message", "new_id", "title_for"]

TITLE_CHARS = 60


def title_for(text: str) -> str:
    """A conversation's title from its first message: one line, at most 60 characters."""
    line = re.sub(r"\s+", " ", text).strip()
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


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
    replies = _Replies(ctx, command, chat, jobs, callback_url, reply_timeout)
    refusal = limiter.acquire(user_id, now=ctx.now)
    if refusal is not None:
        # A retry of a turn already made is answered, not refused: it costs nothing.
        cid = command.client_message_id
        earlier = chat.find_turn(user_id, cid) if cid is not None else None
        if earlier is None:
            wait = refusal.retry_after
            raise ChatError(
                ErrorCode.RATE_LIMITED,
                f"Your daily AI token budget is used up; it renews at 00:00 UTC, in {wait} s."
                if refusal.daily_budget
                else f"Too many chat messages. Try again in {wait} s.",
                retryable=True,
                retry_after=wait,
            )
        replies.answer_retry(earlier)
        return
    message = Message(
        message_id=new_id(), role=Role.USER, content=command.message, timestamp=frames.iso(ctx.now)
    )
    # The answer is stored with the turn, streaming and empty, so that the reply need
    # not store it first (one write less per turn) and a stop can find it at once. A
    # millisecond later than the question, so that it sorts after it.
    answer = Message(
        new_id(), Role.ASSISTANT, "", frames.iso(ctx.now + 0.001), status=MessageStatus.STREAMING
    )
    try:
        turn = chat.begin_turn(
            user_id,
            command.conversation_id or new_id(),
            message,
            title=title_for(command.message),
            client_message_id=command.client_message_id,
            reply=answer,
        )
    except ConversationNotFound:
        limiter.release(user_id)
        raise ChatError(
            ErrorCode.NOT_FOUND,
            f"Conversation '{command.conversation_id}' was deleted.",
            field="conversationId",
        ) from None
    except Exception:
        limiter.release(user_id)  # nothing was stored: nothing is charged
        raise
    if turn.duplicate:
        limiter.release(user_id)
        replies.answer_retry(turn)
        return
    # The sender's acknowledgement leaves at once; the user's other tabs get it as
    # soon as they are looked up, while it is on its way.
    ack = _ack(turn, command.client_message_id)
    broadcast = Broadcast([ctx.connection_id], sender=ctx.sender, on_gone=connections.delete)
    broadcast.publish(ack)
    known = connections.connections_of(user_id, now=ctx.now)
    for other in known:
        broadcast.join(other.connection_id, ack)
    broadcast.close()
    # The reply starts streaming to these without looking them up again.
    replies.start(turn, tuple((c.connection_id, c.live_until) for c in known), answer)


@dataclass(frozen=True, slots=True)
class _Replies:
    """Starting, or starting again, the reply of a turn that this request sent or retried."""

    ctx: Context
    command: ChatMessage
    chat: ChatStore
    jobs: ReplyJobs
    callback_url: str
    reply_timeout: int

    def answer_retry(self, turn: Turn) -> None:
        """A retried ``clientMessageId``: the same acknowledgement, then by the turn's
        state the stored answer (answered), a new reply (failed, or pending for longer
        than a reply may run: it died with its invocation) or nothing (pending)."""
        ctx = self.ctx
        ctx.reply(_ack(turn, self.command.client_message_id))
        user_id = ctx.identity.user_id
        if turn.state is TurnState.ANSWERED and turn.reply is not None:
            ctx.reply(
                frames.fit_content(frames.ai_response(user_id, turn.conversation_id, turn.reply))
            )
        elif turn.state is not TurnState.ANSWERED and self.chat.retry_turn(
            user_id,
            turn.conversation_id,
            turn.message,
            now=frames.iso(ctx.now),
            stale_before=frames.iso(ctx.now - self.reply_timeout),
        ):
            self.start(turn)

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
            client_message_id=self.command.client_message_id,
            token_expires_at=ctx.identity.token_expires_at or 0,
            connections=connections,
            reply_id=answer.message_id if answer else None,
            reply_timestamp=answer.timestamp if answer else None,
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


def _ack(turn: Turn, client_message_id: str | None) -> dict[str, Any]:
    return {
        "type": "message_received",
        "conversationId": turn.conversation_id,
        "messageId": turn.message.message_id,
        "clientMessageId": client_message_id,
        "timestamp": turn.message.timestamp,
    }
