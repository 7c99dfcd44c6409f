"""A chat turn's reply, in the asynchronous invocation the accepted turn started (no
API Gateway deadline): the thin driver around :class:`.ReplyStream`, which holds
every rule. The driver does the I/O the stream asks for and feeds it what happened.

It claims the turn (one conditional write) before asking the model: a job that
arrives late, twice, or after its turn was answered is dropped (logged and counted).
The model is read on one thread (:mod:`.upstream`), into a queue; everything else
happens on the caller's thread: ticks, checkpoints, connection reads, the finishing
write. A stop closes the model's response from here, outside its reading loop. Frames go out
through :class:`.ReplyDelivery` (one ordered queue per connection).

Every turn ends with exactly one of: ``ai_response`` (possibly followed by an
``error`` when the answer broke off), an ``error``, or, when the user deleted the
conversation while it streamed, nothing more: the delete sends ``conversation_deleted``
once this reply said (``reply_ended``) that its last frame went out.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from realtime_chat import frames
from realtime_chat.coalescer import Coalescer
from realtime_chat.domain import (
    Attempt,
    Claim,
    Finished,
    Message,
    MessageStatus,
    ModelEvent,
    PromptMessage,
    ReplyJob,
    Role,
    TextDelta,
    TurnState,
)
from realtime_chat.errors import (
    ChatError,
    ConversationNotFound,
    ErrorCode,
)
from realtime_chat.model_options import ModelOption
from realtime_chat.observability import count, logger
from realtime_chat.ports import (
    ApiKeySource,
    ChatStore,
    Clock,
    ConnectionStore,
    FrameSender,
    LanguageModel,
    RateLimiter,
)
from realtime_chat.prompt import build_prompt
from realtime_chat.reply_stream import (
    Action,
    CloseUpstream,
    Outcome,
    Phase,
    ReadConnections,
    ReplyStream,
    Send,
    WriteCheckpoint,
    WriteFinish,
)
from realtime_chat.settings import AiSettings
from realtime_chat.usecases.chat import new_id
from realtime_chat.usecases.reply_delivery import ReplyDelivery
from realtime_chat.usecases.upstream import KeyAhead, Upstream

__all__ = ["WATCH_SECONDS", "Reply", "estimate_tokens", "generate_reply"]

WATCH_SECONDS = 1.0  # how often a streaming reply checkpoints and looks for joiners
CHARS_PER_TOKEN = 4  # the estimate's rate when the provider reports no usage


@dataclass(frozen=True, slots=True)
class Reply:
    """What the worker produced: the stored assistant message (if any), the error sent,
    whether the conversation was deleted under it, and whether the job was dropped
    (its turn answered, or owned by another attempt)."""

    message: Message | None
    error: ErrorCode | None
    chunks: int
    deleted: bool = False
    first_token_seconds: float | None = None  # from asking the model to its first token
    dropped: bool = False


def estimate_tokens(prompt: Sequence[PromptMessage], answer: str) -> int:
    """What a turn costs when the provider reports no usage (a stopped, broken or
    deleted stream): everything sent (system prompt, history, question) and the
    answer's text, about four characters a token."""
    sent = sum(len(m.content) for m in prompt)
    return math.ceil(sent / CHARS_PER_TOKEN) + math.ceil(len(answer) / CHARS_PER_TOKEN)


def generate_reply(
    job: ReplyJob,
    *,
    settings: AiSettings,
    chat: ChatStore,
    connections: ConnectionStore,
    sender: FrameSender,
    keys: ApiKeySource,
    model: LanguageModel,
    clock: Clock,
    coalescer: Callable[[], Coalescer] = Coalescer,
    watch_seconds: float = WATCH_SECONDS,
    budget: RateLimiter | None = None,
) -> Reply:
    started = clock()
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
    attempt = Attempt(question, new_id(), placeholder)
    # Everything the model needs is fetched at once: the key and the history load
    # while the turn is claimed and the placeholder stored, so the model is asked
    # sooner.
    ahead = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reply-start")
    key_ahead = KeyAhead(keys, ahead)
    history = ahead.submit(
        chat.history,
        job.user_id,
        job.conversation_id,
        limit=max(settings.history_messages, 1),
        before=f"{job.message_timestamp}#{job.message_id}",
    )
    # The conversation's model, when the job names none and there is a choice.
    chosen = (
        ahead.submit(chat.conversation, job.user_id, job.conversation_id)
        if job.model is None and settings.models
        else None
    )
    ahead.shutdown(wait=False)  # its two threads end with their tasks

    # The turn is this job's before anything is sent or the model is asked.
    claim: Claim | None
    try:
        claim = chat.claim_turn(job.user_id, job.conversation_id, attempt, now=frames.iso(started))
    except Exception:
        logger.exception("could not claim the turn", extra={"request_id": job.request_id})
        claim = None  # a reply that cannot start fails its turn (below)
    if claim is not None and claim is not Claim.OWNED and claim is not Claim.GONE:
        return _dropped(claim.value)

    def error_frame(error: ChatError, message_id: str) -> frames.Frame:
        return frames.reply_error(
            error,
            request_id=job.request_id,
            conversation_id=job.conversation_id,
            message_id=message_id,
            client_message_id=job.client_message_id,
        )

    stream = ReplyStream(
        user_id=job.user_id,
        conversation_id=job.conversation_id,
        placeholder=placeholder,
        targets=_first_targets(job, connections, started),
        now=started,
        error_frame=error_frame,
        coalescer=coalescer(),
        watch_seconds=watch_seconds,
    )
    driver = _Driver(job, stream, attempt, placeholder, chat, connections, sender, clock)
    try:
        if claim is None:
            raise RuntimeError("the turn could not be claimed")
        if claim is Claim.GONE:
            raise ConversationNotFound(job.conversation_id)
        if not stored_with_turn:
            chat.start_reply(job.user_id, job.conversation_id, placeholder)
    except ConversationNotFound:
        driver.run(stream.deleted(clock()))
        return driver.close(Outcome.DELETED)
    except Exception:
        # Never a silent turn: it fails (a retry runs it at once) and the user is told.
        logger.exception("reply could not start", extra={"request_id": job.request_id})
        count("ReplyStartFailures")
        if not chat.fail_unstarted(job.user_id, job.conversation_id, attempt):
            return _dropped("taken")  # another attempt answers it, or it was deleted
        error = ChatError.internal("The reply could not be started.", job.request_id)
        driver.run(stream.not_started(error, clock()))
        return driver.close(stream.outcome)
    prompt: list[PromptMessage] = []
    try:
        conversation = chosen.result() if chosen else None
        sticky = conversation.model if conversation else None
        choice = _choice(settings.models, job.model or sticky)
        earlier, _ = history.result()
        prompt = build_prompt(
            system_prompt=settings.system_prompt,
            earlier=earlier,
            current=job.content,
            max_messages=settings.history_messages,
            max_chars=settings.history_chars,
        )
    except Exception:
        logger.exception("reply failed", extra={"request_id": job.request_id})
        error = ChatError.internal("The reply failed on our side.", job.request_id)
        driver.run(stream.model_failed(error, clock()))
    else:
        driver.stream(lambda key: model.stream(prompt, api_key=key, choice=choice), key_ahead)
    if stream.outcome is Outcome.LOST:  # it asked the model all the same: charged below
        _dropped("lost")
    # After the final frame is on its way: counting must not delay it.
    if driver.model_answered:
        _spend(budget, job, stream, prompt, clock())
    return driver.close(stream.outcome)


def _choice(models: Sequence[ModelOption], model_id: str | None) -> ModelOption | None:
    """The allow-listed model ``model_id`` names; None (the default route) when it names
    none, or one no longer on the list."""
    return next((m for m in models if m.id == model_id), None)


def _first_targets(
    job: ReplyJob, connections: ConnectionStore, now: float
) -> list[tuple[str, float]]:
    """The connections to stream to from the start, each with its ``live_until``. The
    sender's own may not be in the user index yet (it is eventually consistent), so
    it is added by id, until its token expires."""
    targets = [(job.connection_id, float(job.token_expires_at or math.inf))]
    if job.connections is None:
        try:
            live = connections.connections_of(job.user_id, now=now)
        except Exception:  # the sender alone, for now: the others join at the watch
            _failed("connections read", "ReplyConnectionsReadFailures", job.request_id)
            return targets
        return targets + [(c.connection_id, c.live_until) for c in live]
    # As the acknowledgement found them a moment ago; joiners come with the watch.
    return targets + [(cid, float(until)) for cid, until in job.connections]


def _dropped(reason: str) -> Reply:
    """A job that must not answer its turn: it ends without a word."""
    logger.warning("reply job dropped", extra={"reason": reason})
    count("ReplyJobsDropped", dimension=("reason", reason))
    return Reply(None, None, 0, dropped=True)


def _spend(
    budget: RateLimiter | None,
    job: ReplyJob,
    stream: ReplyStream,
    prompt: Sequence[PromptMessage],
    now: float,
) -> None:
    """Count what the model used against the user's daily budget: the provider's
    ``totalTokens``, else :func:`estimate_tokens` (whether the answer finished, was
    stopped, broke or its conversation was deleted). Only for a turn whose model
    answered something: one that never reached it costs nothing."""
    if budget is None or not prompt:
        return
    tokens = stream.usage.get("totalTokens") or estimate_tokens(prompt, stream.content)
    try:
        budget.spend(job.user_id, tokens, now=now)
    except Exception:  # the answer is out and stored: a missed count must not fail it
        logger.exception("could not count the reply's tokens", extra={"tokens": tokens})


class _Driver:
    """Carries out what the :class:`ReplyStream` asks, and feeds it what happened."""

    def __init__(
        self,
        job: ReplyJob,
        stream: ReplyStream,
        attempt: Attempt,
        placeholder: Message,
        chat: ChatStore,
        connections: ConnectionStore,
        sender: FrameSender,
        clock: Clock,
    ) -> None:
        self._job = job
        self._stream = stream
        self._attempt = attempt
        self._placeholder = placeholder
        self._chat = chat
        self._connections = connections
        self._clock = clock
        self._delivery = ReplyDelivery((), sender=sender, on_gone=connections.delete, clock=clock)
        self._upstream = Upstream(clock, job.request_id)

    def stream(self, start: Callable[[str], Iterable[ModelEvent]], keys: ApiKeySource) -> None:
        """Read the model until the reply is stored (or ends otherwise)."""
        stream, clock = self._stream, self._clock
        self._upstream.start(start, keys)
        interval = stream.tick_interval
        next_tick = clock() + interval
        while stream.phase is Phase.STREAMING:
            wait = max(0.0, min(next_tick - clock(), interval))
            try:
                event = self._upstream.events.get(timeout=wait)
            except queue.Empty:
                event = None
            now = clock()
            if isinstance(event, TextDelta):
                self._upstream.first_delta(now)
                self.run(stream.model_delta(event.text, now))
            elif isinstance(event, Finished):
                self.run(stream.model_end(event, now))
            elif isinstance(event, ChatError):
                self.run(stream.model_failed(event, now))
            if event is None or now >= next_tick:
                self.run(stream.tick(now))
                next_tick = now + interval
        # A final write still in flight was carried out by ``run``; the stream is over.

    def run(self, actions: list[Action]) -> None:
        """Carry out ``actions`` in order, each one's consequences before the next."""
        pending = list(reversed(actions))
        while pending:
            follow = self._do(pending.pop())
            pending.extend(reversed(follow))

    @property
    def model_answered(self) -> bool:
        """The model was asked and answered something (a token, or its end)."""
        return self._upstream.answered

    def close(self, outcome: Outcome | None) -> Reply:
        """Wait (briefly) for the frames to go out and the model's thread to end."""
        self._upstream.close()
        self._delivery.close()
        if outcome is Outcome.DELETED:  # every frame is out: the delete may say so
            job = self._job
            try:
                self._chat.reply_ended(job.user_id, job.conversation_id, self._placeholder)
            except Exception:  # the delete answers after its wait all the same
                logger.exception(
                    "could not say the reply ended", extra={"request_id": job.request_id}
                )
        self._upstream.join(timeout=2.0)
        stream = self._stream
        error = stream.error.code if stream.error else None
        kept = stream.stored if outcome not in (Outcome.DELETED, Outcome.LOST) else None
        return Reply(
            kept,
            error,
            stream.seq,
            deleted=outcome is Outcome.DELETED,
            first_token_seconds=self._upstream.first_token_seconds,
            dropped=outcome is Outcome.LOST,
        )

    def _do(self, action: Action) -> list[Action]:
        stream, job = self._stream, self._job
        if isinstance(action, Send):
            for connection_id in action.to:
                until = stream.live_until(connection_id)
                self._delivery.send(connection_id, action.frame, live_until=until)
            return []
        if isinstance(action, CloseUpstream):
            self._upstream.close()
            return []
        if isinstance(action, WriteCheckpoint):
            reply = replace(self._placeholder, content=action.content)
            try:
                outcome = self._chat.checkpoint(
                    job.user_id, job.conversation_id, reply, seq=action.seq
                )
            except Exception:
                _failed("checkpoint", "ReplyCheckpointFailures", job.request_id)
                return stream.checkpoint_failed(self._clock())
            return stream.checkpoint_written(outcome, self._clock())
        if isinstance(action, ReadConnections):
            now = self._clock()
            try:
                live = self._connections.connections_of(job.user_id, now=now)
            except Exception:
                _failed("connections read", "ReplyConnectionsReadFailures", job.request_id)
                return stream.connections_failed(self._clock())
            return stream.connections([(c.connection_id, c.live_until) for c in live], now)
        if isinstance(action, WriteFinish):
            return self._finish(action)
        return []  # Done

    def _finish(self, action: WriteFinish) -> list[Action]:
        job, stream = self._job, self._stream
        try:
            settled = self._chat.finish_turn(
                job.user_id,
                job.conversation_id,
                self._attempt.question,
                reply=action.reply,
                state=TurnState.FAILED if action.failed else TurnState.ANSWERED,
                started=self._placeholder,
                attempt=self._attempt,
                stop_wins=action.stop_wins,
            )
        except ConversationNotFound:
            return stream.deleted(self._clock())
        except Exception:
            logger.exception("could not store the reply", extra={"request_id": job.request_id})
            error = ChatError.internal("The reply could not be saved.", job.request_id)
            return stream.finish_failed(error, self._clock())
        return stream.finish_written(settled, self._clock())


def _failed(what: str, metric: str, request_id: str) -> None:
    """A checkpoint or connections read that raised: logged (with the request id, which
    is also the job's correlation id), counted, and tried again at the next watch."""
    logger.warning(
        f"reply {what} failed; retrying at the next watch",
        exc_info=True,
        extra={"request_id": request_id},
    )
    count(metric)
