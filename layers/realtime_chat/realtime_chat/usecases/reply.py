"""A chat turn's reply, in the asynchronous invocation the accepted turn started (no
API Gateway deadline): stream coalesced chunks to every connection of the user, then
store the whole answer and the turn's end.

Every turn ends with exactly one of: ``ai_response`` (possibly followed by an
``error`` when the answer broke off), an ``error``, or ``conversation_deleted`` when
the user deleted the conversation while it streamed. About once a second the reply
checkpoints its text (one write, which also tells it to stop or that the conversation
is gone) and welcomes connections of the user that appeared since with a snapshot.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
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
from realtime_chat.model import (
    Checkpoint,
    Finished,
    Message,
    MessageStatus,
    ReplyJob,
    Role,
    TextDelta,
    TurnState,
)
from realtime_chat.observability import logger
from realtime_chat.ports import (
    ApiKeySource,
    ChatModel,
    ChatStore,
    Clock,
    ConnectionStore,
    FrameSender,
    RateLimiter,
)
from realtime_chat.prompt import build_prompt
from realtime_chat.settings import AiSettings
from realtime_chat.usecases.broadcast import Broadcast
from realtime_chat.usecases.chat import new_id

__all__ = ["WATCH_SECONDS", "Reply", "generate_reply"]

WATCH_SECONDS = 1.0  # how often a streaming reply checkpoints and looks for joiners


@dataclass(frozen=True, slots=True)
class Reply:
    """What the worker produced: the stored assistant message (if any), the error sent,
    and whether the conversation was deleted under it."""

    message: Message | None
    error: ErrorCode | None
    chunks: int
    deleted: bool = False
    first_token_seconds: float | None = None  # from asking the model to its first token


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
    budget: RateLimiter | None = None,
) -> Reply:
    started = clock()
    # The sender's own connection may not be in the user index yet (it is eventually
    # consistent), so it is added by id, unless its token has expired since.
    targets = [] if 0 < job.token_expires_at <= started else [job.connection_id]
    if job.connections is None:
        targets += [c.connection_id for c in connections.connections_of(job.user_id, now=started)]
    else:  # as the acknowledgement found them a moment ago; joiners come with the watch
        targets += [cid for cid, live_until in job.connections if live_until > started]
    broadcast = Broadcast(targets, sender=sender, on_gone=connections.delete)
    question = Message(job.message_id, Role.USER, job.content, job.message_timestamp)
    # Stored with the turn when the job names it; else (a retried turn) stored below.
    stored_with_turn = job.reply_id is not None and job.reply_timestamp is not None
    placeholder = Message(
        job.reply_id or new_id(),
        Role.ASSISTANT,
        "",
        job.reply_timestamp or frames.iso(started),
        status=MessageStatus.STREAMING,
    )
    turn = _Turn(
        job,
        placeholder,
        broadcast,
        coalescer(),
        clock,
        chat=chat,
        connections=connections,
        watch_seconds=watch_seconds,
    )
    # Everything the model needs is fetched at once: the key and the history load
    # while the placeholder is stored (if it was not with the turn), so the model is
    # asked one round trip sooner.
    ahead = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reply-start")
    key_ahead = _KeyAhead(keys, ahead)
    history = ahead.submit(
        chat.history,
        job.user_id,
        job.conversation_id,
        limit=max(settings.history_messages, 1),
        before=f"{job.message_timestamp}#{job.message_id}",
    )
    ahead.shutdown(wait=False)  # its two threads end with their tasks
    try:
        if not stored_with_turn:
            chat.start_reply(job.user_id, job.conversation_id, placeholder)
    except ConversationNotFound:
        return _deleted(job, broadcast, turn)
    try:
        earlier, _ = history.result()
        prompt = build_prompt(
            system_prompt=settings.system_prompt,
            earlier=earlier,
            current=job.content,
            max_messages=settings.history_messages,
            max_chars=settings.history_chars,
        )
        finished = turn.stream(lambda key: model.stream(prompt, api_key=key), key_ahead)
        error: ChatError | None = None
    except ChatError as err:
        finished, error = Finished("error", settings.model), err
    except Exception:
        logger.exception("reply failed", extra={"request_id": job.request_id})
        finished = Finished("error", settings.model)
        error = ChatError.internal("The reply failed on our side.", job.request_id)
    if turn.stopped and error is None:
        finished = Finished("stopped", finished.model or settings.model, finished.usage)
    stored: Message | None = None
    if not turn.deleted and (turn.content or error is None):
        # An empty but finished (or stopped) answer still ends the turn.
        stored = _message(placeholder, turn.content, finished, error is not None)
    try:
        if not turn.deleted:
            state = TurnState.ANSWERED if error is None else TurnState.FAILED
            chat.finish_turn(
                job.user_id,
                job.conversation_id,
                question,
                reply=stored,
                state=state,
                started=placeholder,
            )
    except ConversationNotFound:
        turn.deleted = True
    except Exception:
        logger.exception("could not store the reply", extra={"request_id": job.request_id})
        error = error or ChatError.internal("The reply could not be saved.", job.request_id)
    if turn.deleted:
        _spend(budget, job, stored, turn.content, clock())
        return _deleted(job, broadcast, turn)
    if stored is not None:
        # The chunks carried every word; the final frame must fit one post to arrive.
        broadcast.publish(
            frames.fit_content(frames.ai_response(job.user_id, job.conversation_id, stored))
        )
    if error is not None:
        frame = frames.error(error, action="chat_message", request_id=job.request_id)
        frame |= {"conversationId": job.conversation_id, "messageId": placeholder.message_id}
        if job.client_message_id:
            frame["clientMessageId"] = job.client_message_id
        broadcast.publish(frame)
    # After the final frame is on its way: counting the tokens must not delay it.
    _spend(budget, job, stored, turn.content, clock())
    broadcast.close()
    return Reply(stored, error.code if error else None, turn.seq, False, turn.first_token_seconds)


def _spend(
    budget: RateLimiter | None, job: ReplyJob, stored: Message | None, content: str, now: float
) -> None:
    """Count what the model used against the user's daily budget: the provider's
    ``totalTokens``, else (a stopped or broken stream reports none) about four
    characters a token of the question and the answer."""
    if budget is None:
        return
    tokens = (stored.usage.get("totalTokens") if stored is not None else None) or (
        math.ceil(len(job.content) / 4) + math.ceil(len(content) / 4)
    )
    try:
        budget.spend(job.user_id, tokens, now=now)
    except Exception:  # the answer is out and stored: a missed count must not fail it
        logger.exception("could not count the reply's tokens", extra={"tokens": tokens})


def _deleted(job: ReplyJob, broadcast: Broadcast, turn: _Turn) -> Reply:
    """The last frame of the conversation, whatever went out before: it is gone."""
    broadcast.publish(frames.conversation_deleted(job.conversation_id))
    broadcast.close()
    return Reply(None, None, turn.seq, deleted=True)


class _Turn:
    """The streaming half of a reply: coalesce deltas, number them, publish them. About
    once a second it checkpoints the text so far (which also tells it to stop, or that
    the conversation was deleted) and welcomes connections of the user that appeared
    since with a snapshot of what they missed."""

    def __init__(
        self,
        job: ReplyJob,
        reply: Message,
        broadcast: Broadcast,
        coalescer: Coalescer,
        clock: Clock,
        *,
        chat: ChatStore,
        connections: ConnectionStore,
        watch_seconds: float,
    ) -> None:
        self._job = job
        self._reply = reply
        self._broadcast = broadcast
        self._coalescer = coalescer
        self._clock = clock
        self._chat = chat
        self._connections = connections
        self._watch_seconds = watch_seconds
        self._parts: list[str] = []
        self._lock = threading.Lock()  # the model's thread and the timer both emit
        self.seq = 0
        self.deleted = False
        self.stopped = False
        self._asked_at: float | None = None
        self.first_token_seconds: float | None = None

    @property
    def content(self) -> str:
        return "".join(self._parts)

    def stream(self, start: Callable[[str], Any], keys: ApiKeySource) -> Finished:
        key = _api_key(keys)
        self._asked_at = self._clock()
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
        done = threading.Event()
        timer = threading.Thread(target=self._tick, args=(done,), daemon=True)
        timer.start()
        try:
            for event in events:
                if self.deleted or self.stopped:
                    break  # leaving the loop closes the provider's stream: no more tokens
                if isinstance(event, TextDelta):
                    if self.first_token_seconds is None and self._asked_at is not None:
                        self.first_token_seconds = self._clock() - self._asked_at
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
            done.set()
            timer.join()
            # Whatever was gathered is sent, whether the stream ended, broke or stopped.
            with self._lock:
                self._emit(self._coalescer.flush(self._clock()))
        return finished or Finished("stop", "")

    def _tick(self, done: threading.Event) -> None:
        """While the model pauses, gathered text goes out after one interval anyway; about
        once a second, the checkpoint and the late joiners."""
        watched = self._clock()
        while not done.wait(self._coalescer.interval):
            with self._lock:
                self._emit(self._coalescer.due(self._clock()))
            if self._clock() - watched >= self._watch_seconds:
                watched = self._clock()
                if not self._watch():
                    return

    def _watch(self) -> bool:
        """Checkpoint, then welcome joiners; False once the reply must end."""
        with self._lock:
            text, seq = self.content, self.seq - 1
        outcome = self._chat.checkpoint(
            self._job.user_id,
            self._job.conversation_id,
            replace(self._reply, content=text),
            seq=seq,
        )
        if outcome is not Checkpoint.CONTINUE:
            with self._lock:
                self.stopped = outcome is Checkpoint.STOP
                self.deleted = outcome is Checkpoint.GONE
            return False
        live = self._connections.connections_of(self._job.user_id, now=self._clock())
        joiners = [c.connection_id for c in live if c.connection_id not in self._broadcast.targets]
        if joiners:
            with self._lock:  # no chunk between the snapshot and the next delta
                snapshot = {
                    "type": "ai_response_snapshot",
                    "conversationId": self._job.conversation_id,
                    "messageId": self._reply.message_id,
                    "content": self.content,
                    "seq": self.seq - 1,
                }
                for connection_id in joiners:
                    self._broadcast.join(connection_id, snapshot)
        return True

    def _emit(self, text: str | None) -> None:
        if not text or self.deleted:
            return
        self._parts.append(text)
        self._broadcast.publish(
            {
                "type": "ai_response_chunk",
                "conversationId": self._job.conversation_id,
                "messageId": self._reply.message_id,
                "seq": self.seq,
                "delta": text,
            }
        )
        self.seq += 1


class _KeyAhead:
    """The key read in the background from the start of the reply: the first read
    answers (or fails) as ``keys`` would have; later ones, and refreshes, go to it."""

    def __init__(self, keys: ApiKeySource, executor: ThreadPoolExecutor) -> None:
        self._keys = keys
        self._first: Future[str] | None = executor.submit(keys.api_key)

    def api_key(self, *, refresh: bool = False) -> str:
        first, self._first = self._first, None
        if first is not None and not refresh:
            return first.result()
        return self._keys.api_key(refresh=refresh)


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


def _message(started: Message, content: str, finished: Finished, failed: bool) -> Message:
    status = (
        MessageStatus.ERROR
        if failed
        else MessageStatus.STOPPED
        if finished.reason == "stopped"
        else MessageStatus.COMPLETE
    )
    return replace(
        started,
        content=content,
        model=finished.model or None,
        finish_reason=finished.reason,
        usage=finished.usage,
        status=status,
    )
