"""A chat turn: accept the user's message at once, then stream the model's reply.

``accept_message`` runs inside the API Gateway route (29 s window): it validates,
stores the message, acknowledges it to every connection of the user and hands a
``ReplyJob`` to the asynchronous worker. ``generate_reply`` runs in that worker,
with no API Gateway deadline: it streams coalesced chunks to every connection of
the user, then stores and sends the whole answer.
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
    ErrorCode,
    ModelRejectedKey,
    ModelUnavailable,
)
from realtime_chat.model import Finished, Message, ReplyJob, Role, TextDelta
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
        raise ChatError(
            ErrorCode.RATE_LIMITED,
            f"Too many chat messages. Try again in {wait} s.",
            retryable=True,
            retry_after=wait,
        )
    conversation_id = command.conversation_id or _new_id()
    message = Message(
        message_id=_new_id(), role=Role.USER, content=command.message, timestamp=frames.iso(ctx.now)
    )
    stored = chat.add_message(
        user_id,
        conversation_id,
        message,
        title=title_for(command.message),
        client_message_id=command.client_message_id,
    )
    ack = {
        "type": "message_received",
        "conversationId": conversation_id,
        "messageId": stored.message.message_id,
        "clientMessageId": command.client_message_id,
        "timestamp": stored.message.timestamp,
    }
    if stored.duplicate:
        # A client retry: same acknowledgement, no second reply.
        ctx.reply(ack)
        return
    broadcast = Broadcast(
        [
            ctx.connection_id,
            *(c.connection_id for c in connections.connections_of(user_id, now=ctx.now)),
        ],
        sender=ctx.sender,
        on_gone=connections.delete,
    )
    broadcast.publish(ack)
    broadcast.close()
    jobs.submit(
        ReplyJob(
            user_id=user_id,
            conversation_id=conversation_id,
            message_id=stored.message.message_id,
            message_timestamp=stored.message.timestamp,
            content=command.message,
            request_id=ctx.request_id,
            connection_id=ctx.connection_id,
            callback_url=callback_url,
        )
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """What the worker produced: the stored assistant message (if any) and the error sent."""

    message: Message | None
    error: ErrorCode | None
    chunks: int


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
) -> Reply:
    started = clock()
    reply_id = _new_id()
    targets = [job.connection_id]
    targets += [c.connection_id for c in connections.connections_of(job.user_id, now=started)]
    broadcast = Broadcast(targets, sender=sender, on_gone=connections.delete)
    turn = _Turn(job, reply_id, broadcast, coalescer(), clock)
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
    if turn.content or error is None:  # an empty but finished answer still ends the turn
        stored = _message(reply_id, turn.content, finished, started)
        try:
            chat.add_message(job.user_id, job.conversation_id, stored, title=title_for(job.content))
        except Exception:
            logger.exception("could not store the reply", extra={"request_id": job.request_id})
            error = error or ChatError.internal(
                "The reply could not be saved.", job.request_id, retryable=False
            )
        broadcast.publish(_ai_response(job, stored, finished))
    if error is not None:
        frame = frames.error(error, action="chat_message", request_id=job.request_id)
        frame |= {"conversationId": job.conversation_id, "messageId": reply_id}
        broadcast.publish(frame)
    broadcast.close()
    return Reply(stored, error.code if error else None, turn.seq)


class _Turn:
    """The streaming half of a reply: coalesce deltas, number them, publish them."""

    def __init__(
        self, job: ReplyJob, reply_id: str, broadcast: Broadcast, coalescer: Coalescer, clock: Clock
    ) -> None:
        self._job = job
        self._reply_id = reply_id
        self._broadcast = broadcast
        self._coalescer = coalescer
        self._clock = clock
        self._parts: list[str] = []
        self._lock = threading.Lock()  # the model's thread and the pause timer both emit
        self.seq = 0

    @property
    def content(self) -> str:
        return "".join(self._parts)

    def stream(self, start: Callable[[str], Any], keys: ApiKeySource) -> Finished:
        try:
            key = keys.api_key()
        except AiNotConfigured as err:
            raise ChatError(ErrorCode.AI_NOT_CONFIGURED, str(err)) from None
        try:
            return self._consume(start(key))
        except ModelRejectedKey:
            if self.seq:
                raise _unavailable("the AI provider refused the key mid-answer") from None
        # The key may have been rotated since we cached it: read the secret once more.
        try:
            fresh = keys.api_key(refresh=True)
        except AiNotConfigured as err:
            raise ChatError(ErrorCode.AI_NOT_CONFIGURED, str(err)) from None
        if fresh != key:
            try:
                return self._consume(start(fresh))
            except ModelRejectedKey:
                pass
        raise ChatError(
            ErrorCode.AI_NOT_CONFIGURED,
            "The AI provider rejected the API key. Put a valid key in the AI secret.",
        )

    def _consume(self, events: Any) -> Finished:
        finished: Finished | None = None
        paused = threading.Event()
        timer = threading.Thread(target=self._release_when_paused, args=(paused,), daemon=True)
        timer.start()
        try:
            for event in events:
                if isinstance(event, TextDelta):
                    with self._lock:
                        self._emit(self._coalescer.feed(event.text, self._clock()))
                elif isinstance(event, Finished):
                    finished = event
        except ModelUnavailable as err:
            logger.warning("model unavailable", extra={"reason": str(err), "chunks": self.seq})
            raise _unavailable("The AI provider is unavailable right now.") from None
        finally:
            paused.set()
            timer.join()
            # Whatever was gathered is sent, whether the stream ended or broke.
            with self._lock:
                self._emit(self._coalescer.flush(self._clock()))
        return finished or Finished("stop", "")

    def _release_when_paused(self, stopped: threading.Event) -> None:
        """While the model pauses, gathered text goes out after one interval anyway."""
        while not stopped.wait(self._coalescer.interval):
            with self._lock:
                self._emit(self._coalescer.due(self._clock()))

    def _emit(self, text: str | None) -> None:
        if not text:
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


def _ai_response(job: ReplyJob, message: Message, finished: Finished) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "ai_response",
        "action": "ai_response",
        "conversationId": job.conversation_id,
        "messageId": message.message_id,
        "content": message.content,
        "timestamp": message.timestamp,
        "userId": job.user_id,
        "model": finished.model or None,
        "finishReason": finished.reason,
    }
    if finished.usage:
        frame["usage"] = finished.usage
    return frame
