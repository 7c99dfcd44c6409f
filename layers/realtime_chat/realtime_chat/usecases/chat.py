"""A chat turn: accept the user's message at once, then stream the model's reply.

``accept_message`` runs inside the API Gateway route (29 s window): it validates,
stores the message as a pending turn, acknowledges it to every connection of the
user and hands a ``ReplyJob`` to the asynchronous worker. ``generate_reply`` runs in
that worker, with no API Gateway deadline: it streams coalesced chunks to every
connection of the user, then stores the whole answer and the turn's end.

Every turn ends with exactly one of: ``ai_response`` (possibly followed by an
``error`` when the answer broke off), an ``error``, or ``conversation_deleted``
when the user deleted the conversation while it streamed. A retry (the same
``clientMessageId``) never stores a second message: it gets the first turn's
acknowledgement, plus its stored answer when there is one, and runs the reply
again only when the first one failed.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from realtime_chat import frames
from realtime_chat.coalescer import Coalescer
from realtime_chat.errors import (
    AiNotConfigured,
    ChatError,
    ConversationNotFound,
    ErrorCode,
    ModelRejectedKey,
    ModelUnavailable,
    SecretUnavailable,
)
from realtime_chat.model import Finished, Message, ReplyJob, Role, TextDelta, Turn, TurnState
from realtime_chat.observability import logger
from realtime_chat.ports import (
    ApiKeySource,
    ChatModel,
    ChatStore,
    Clock,
    ConnectionStore,
    FrameSender,
    RateLimiter,
    ReplyJobs,
)
from realtime_chat.prompt import build_prompt
from realtime_chat.protocol import ChatMessage
from realtime_chat.settings import AiSettings
from realtime_chat.usecases.broadcast import Broadcast
from realtime_chat.usecases.context import Context

__all__ = ["Reply", "accept_message", "generate_reply", "title_for"]

TITLE_CHARS = 60
WATCH_SECONDS = 1.0  # how often a streaming reply checks that its conversation still exists


def title_for(text: str) -> str:
    """A conversation's title from its first message: one line, at most 60 characters."""
    line = re.sub(r"\s+", " ", text).strip()
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _new_id() -> str:
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
) -> None:
    user_id = ctx.require_user("chat_message")
    wait = limiter.acquire(user_id, now=ctx.now)
    if wait is not None:
        # A retry of a turn already made is answered, not refused: it costs nothing.
        earlier = (
            chat.find_turn(user_id, command.client_message_id or "")
            if command.client_message_id
            else None
        )
        if earlier is None:
            raise ChatError(
                ErrorCode.RATE_LIMITED,
                f"Too many chat messages. Try again in {wait} s.",
                retryable=True,
                retry_after=wait,
            )
        _answer_retry(ctx, earlier, command, chat=chat, jobs=jobs, callback_url=callback_url)
        return
    message = Message(
        message_id=_new_id(), role=Role.USER, content=command.message, timestamp=frames.iso(ctx.now)
    )
    try:
        turn = chat.begin_turn(
            user_id,
            command.conversation_id or _new_id(),
            message,
            title=title_for(command.message),
            client_message_id=command.client_message_id,
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
        _answer_retry(ctx, turn, command, chat=chat, jobs=jobs, callback_url=callback_url)
        return
    broadcast = Broadcast(
        [
            ctx.connection_id,
            *(c.connection_id for c in connections.connections_of(user_id, now=ctx.now)),
        ],
        sender=ctx.sender,
        on_gone=connections.delete,
    )
    broadcast.publish(_ack(turn, command.client_message_id))
    broadcast.close()
    _start_reply(ctx, turn, command, chat=chat, jobs=jobs, callback_url=callback_url)


def _answer_retry(
    ctx: Context,
    turn: Turn,
    command: ChatMessage,
    *,
    chat: ChatStore,
    jobs: ReplyJobs,
    callback_url: str,
) -> None:
    """A retried ``clientMessageId``: the same acknowledgement, then by the turn's state
    the stored answer (answered), a new reply (failed) or nothing (pending)."""
    ctx.reply(_ack(turn, command.client_message_id))
    user_id = ctx.identity.user_id
    if turn.state is TurnState.ANSWERED and turn.reply is not None:
        ctx.reply(frames.fit_content(_ai_response(user_id, turn.conversation_id, turn.reply)))
    elif turn.state is TurnState.FAILED and chat.retry_turn(
        user_id, turn.conversation_id, turn.message
    ):
        _start_reply(ctx, turn, command, chat=chat, jobs=jobs, callback_url=callback_url)


def _start_reply(
    ctx: Context,
    turn: Turn,
    command: ChatMessage,
    *,
    chat: ChatStore,
    jobs: ReplyJobs,
    callback_url: str,
) -> None:
    job = ReplyJob(
        user_id=ctx.identity.user_id,
        conversation_id=turn.conversation_id,
        message_id=turn.message.message_id,
        message_timestamp=turn.message.timestamp,
        content=turn.message.content,
        request_id=ctx.request_id,
        connection_id=ctx.connection_id,
        callback_url=callback_url,
        client_message_id=command.client_message_id,
        token_expires_at=ctx.identity.token_expires_at or 0,
    )
    try:
        jobs.submit(job)
    except Exception:
        # The reply never started: the turn fails, so a retry of it runs the reply.
        logger.exception("could not start the reply")
        chat.finish_turn(
            job.user_id, job.conversation_id, turn.message, reply=None, state=TurnState.FAILED
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


@dataclass(frozen=True, slots=True)
class Reply:
    """What the worker produced: the stored assistant message (if any), the error sent,
    and whether the conversation was deleted under it."""

    message: Message | None
    error: ErrorCode | None
    chunks: int
    deleted: bool = False


def generate_reply(
    job: ReplyJob,
    *,
    settings: AiSettings,
    chat: ChatStore,
    connections: ConnectionStore,
    sender: FrameSender,
    keys: ApiKeySource,
    model: ChatModel,
    clock: Clock,
    coalescer: Callable[[], Coalescer] = Coalescer,
    watch_seconds: float = WATCH_SECONDS,
) -> Reply:
    started = clock()
    reply_id = _new_id()
    # The sender's own connection may not be in the user index yet (it is eventually
    # consistent), so it is added by id, unless its token has expired since.
    targets = [] if 0 < job.token_expires_at <= started else [job.connection_id]
    targets += [c.connection_id for c in connections.connections_of(job.user_id, now=started)]
    broadcast = Broadcast(targets, sender=sender, on_gone=connections.delete)
    turn = _Turn(
        job,
        reply_id,
        broadcast,
        coalescer(),
        clock,
        still_there=lambda: chat.conversation(job.user_id, job.conversation_id) is not None,
        watch_seconds=watch_seconds,
    )
    question = Message(job.message_id, Role.USER, job.content, job.message_timestamp)
    try:
        earlier, _ = chat.history(
            job.user_id,
            job.conversation_id,
            limit=max(settings.history_messages, 1),
            before=f"{job.message_timestamp}#{job.message_id}",
        )
        prompt = build_prompt(
            system_prompt=settings.system_prompt,
            earlier=earlier,
            current=job.content,
            max_messages=settings.history_messages,
            max_chars=settings.history_chars,
        )
        finished = turn.stream(lambda key: model.stream(prompt, api_key=key), keys)
        error: ChatError | None = None
    except ChatError as err:
        finished, error = Finished("error", settings.model), err
    except Exception:
        logger.exception("reply failed", extra={"request_id": job.request_id})
        finished = Finished("error", settings.model)
        error = ChatError.internal("The reply failed on our side.", job.request_id)
    stored: Message | None = None
    if not turn.deleted and (turn.content or error is None):
        # An empty but finished answer still ends the turn.
        stored = _message(reply_id, turn.content, finished, started)
    try:
        if not turn.deleted:
            state = TurnState.ANSWERED if error is None else TurnState.FAILED
            chat.finish_turn(job.user_id, job.conversation_id, question, reply=stored, state=state)
    except ConversationNotFound:
        turn.deleted = True
    except Exception:
        logger.exception("could not store the reply", extra={"request_id": job.request_id})
        error = error or ChatError.internal("The reply could not be saved.", job.request_id)
    if turn.deleted:
        # The last frame of the conversation, whatever went out before: it is gone.
        broadcast.publish(frames.conversation_deleted(job.conversation_id))
        broadcast.close()
        return Reply(None, None, turn.seq, deleted=True)
    if stored is not None:
        # The chunks carried every word; the final frame must fit one post to arrive.
        broadcast.publish(
            frames.fit_content(_ai_response(job.user_id, job.conversation_id, stored))
        )
    if error is not None:
        frame = frames.error(error, action="chat_message", request_id=job.request_id)
        frame |= {"conversationId": job.conversation_id, "messageId": reply_id}
        if job.client_message_id:
            frame["clientMessageId"] = job.client_message_id
        broadcast.publish(frame)
    broadcast.close()
    return Reply(stored, error.code if error else None, turn.seq)


class _Turn:
    """The streaming half of a reply: coalesce deltas, number them, publish them, and
    stop as soon as the conversation is found deleted."""

    def __init__(
        self,
        job: ReplyJob,
        reply_id: str,
        broadcast: Broadcast,
        coalescer: Coalescer,
        clock: Clock,
        *,
        still_there: Callable[[], bool],
        watch_seconds: float,
    ) -> None:
        self._job = job
        self._reply_id = reply_id
        self._broadcast = broadcast
        self._coalescer = coalescer
        self._clock = clock
        self._still_there = still_there
        self._watch_seconds = watch_seconds
        self._parts: list[str] = []
        self._lock = threading.Lock()  # the model's thread and the timer both emit
        self.seq = 0
        self.deleted = False

    @property
    def content(self) -> str:
        return "".join(self._parts)

    def stream(self, start: Callable[[str], Any], keys: ApiKeySource) -> Finished:
        key = _api_key(keys)
        try:
            return self._consume(start(key))
        except ModelRejectedKey:
            if self.seq:
                raise _unavailable("the AI provider refused the key mid-answer") from None
        # The key may have been rotated since we cached it: read the secret once more.
        fresh = _api_key(keys, refresh=True)
        if fresh != key:
            try:
                return self._consume(start(fresh))
            except ModelRejectedKey:
                pass
        raise ChatError(
            ErrorCode.AI_NOT_CONFIGURED,
            "The AI provider rejected the API key. An operator must put a valid key "
            "into the AI secret.",
        )

    def _consume(self, events: Any) -> Finished:
        finished: Finished | None = None
        stopped = threading.Event()
        timer = threading.Thread(target=self._tick, args=(stopped,), daemon=True)
        timer.start()
        try:
            for event in events:
                if self.deleted:
                    break  # leaving the loop closes the provider's stream
                if isinstance(event, TextDelta):
                    with self._lock:
                        self._emit(self._coalescer.feed(event.text, self._clock()))
                elif isinstance(event, Finished):
                    finished = event
        except ModelUnavailable as err:
            logger.warning("model unavailable", extra={"reason": str(err), "chunks": self.seq})
            raise _unavailable("The AI provider is unavailable right now.") from None
        finally:
            if hasattr(events, "close"):
                events.close()
            stopped.set()
            timer.join()
            # Whatever was gathered is sent, whether the stream ended or broke.
            with self._lock:
                self._emit(self._coalescer.flush(self._clock()))
        return finished or Finished("stop", "")

    def _tick(self, stopped: threading.Event) -> None:
        """While the model pauses, gathered text goes out after one interval anyway; about
        once a second, check that the conversation has not been deleted."""
        checked = self._clock()
        while not stopped.wait(self._coalescer.interval):
            with self._lock:
                self._emit(self._coalescer.due(self._clock()))
            if self._clock() - checked >= self._watch_seconds:
                checked = self._clock()
                if not self._still_there():
                    with self._lock:
                        self.deleted = True
                    return

    def _emit(self, text: str | None) -> None:
        if not text or self.deleted:
            return
        self._parts.append(text)
        self._broadcast.publish(
            {
                "type": "ai_response_chunk",
                "conversationId": self._job.conversation_id,
                "messageId": self._reply_id,
                "seq": self.seq,
                "delta": text,
            }
        )
        self.seq += 1


def _api_key(keys: ApiKeySource, *, refresh: bool = False) -> str:
    """The key, or the client's error: configuration (AI_NOT_CONFIGURED, what to do, no
    resource names) apart from an outage of Secrets Manager (AI_UNAVAILABLE, retry)."""
    try:
        return keys.api_key(refresh=refresh)
    except AiNotConfigured as err:
        logger.error("AI not configured", extra={"reason": str(err)})
        raise ChatError(ErrorCode.AI_NOT_CONFIGURED, err.public) from None
    except SecretUnavailable as err:
        logger.warning("AI secret unavailable", extra={"reason": str(err)})
        raise _unavailable("The AI key could not be read right now.") from None


def _unavailable(message: str) -> ChatError:
    return ChatError(ErrorCode.AI_UNAVAILABLE, message + " Please try again.", retryable=True)


def _message(reply_id: str, content: str, finished: Finished, started: float) -> Message:
    return Message(
        message_id=reply_id,
        role=Role.ASSISTANT,
        content=content,
        timestamp=frames.iso(started),
        model=finished.model or None,
        finish_reason=finished.reason,
        usage=finished.usage,
    )


def _ai_response(user_id: str, conversation_id: str, message: Message) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "ai_response",
        "action": "ai_response",
        "conversationId": conversation_id,
        "messageId": message.message_id,
        "content": message.content,
        "timestamp": message.timestamp,
        "userId": user_id,
        "model": message.model,
        "finishReason": message.finish_reason,
    }
    if message.usage:
        frame["usage"] = message.usage
    return frame
