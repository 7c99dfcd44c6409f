"""A streaming reply's rules without I/O: events in, actions out, time supplied.

In the style of python-websockets' protocol and :class:`.Coalescer`, a
:class:`ReplyStream` never sends, stores, reads or sleeps. Its driver
(:mod:`realtime_chat.usecases.reply`) feeds it what happened and carries out what
each call returns, in order:

=====================================  ==========================================
event                                  typical actions returned
=====================================  ==========================================
``model_delta(text, now)``             :class:`Send` (a chunk)
``tick(now)``                          :class:`Send`, :class:`WriteCheckpoint`
``checkpoint_written(outcome, now)``   :class:`ReadConnections`, or the end
``checkpoint_failed(now)``             :class:`ReadConnections` (retried later)
``connections(live, now)``             :class:`Send` (snapshots; the final frame)
``model_end(finished, now)``           :class:`Send`, :class:`WriteFinish`
``model_failed(error, now)``           :class:`Send`, :class:`WriteFinish`
``stop_requested(now)``                :class:`CloseUpstream`, :class:`WriteFinish`
``finish_written(settled, now)``       :class:`Send` (the final frame), :class:`ReadConnections`
``finish_failed(error, now)``          :class:`ReadConnections`
``deleted(now)``                       :class:`CloseUpstream`, :class:`Done`
``not_started(error, now)``            :class:`Send` (the error), :class:`Done`
=====================================  ==========================================

The promises it keeps, whatever order these come in:

* every connection it knows of that is live when the final frame is published gets
  it, once: after the finishing write the final frame goes to the connections known,
  then the driver reads the connections once more, and it goes to the new ones too;
* a connection that joins mid-answer gets a snapshot of the text so far, then every
  later chunk, then the final frame;
* a connection whose ``live_until`` has passed gets nothing further;
* an end (normal or broken) whose finishing write finds a stop request ends
  ``stopped``;
* an upstream failure after a stop was requested is not an error: we hung up;
* a deleted conversation ends the reply without a word more: the delete tells every
  connection (``conversation_deleted``) once the reply's driver says it has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import Enum

from realtime_chat import frames
from realtime_chat.coalescer import Coalescer
from realtime_chat.domain import Checkpoint, Finished, Message, MessageStatus, Settled
from realtime_chat.errors import ChatError

__all__ = [
    "Action",
    "CloseUpstream",
    "Done",
    "ErrorFrame",
    "Outcome",
    "Phase",
    "ReadConnections",
    "ReplyStream",
    "Send",
    "WriteCheckpoint",
    "WriteFinish",
]


class Phase(Enum):
    STREAMING = "streaming"  # the model is being read
    FINISHING = "finishing"  # the finishing write is on its way
    PUBLISHING = "publishing"  # stored, the final frame sent: the last connections read
    DONE = "done"


class Outcome(Enum):
    ANSWERED = "answered"
    STOPPED = "stopped"
    FAILED = "failed"
    DELETED = "deleted"
    LOST = "lost"  # another attempt owns the turn: this one ends without a word


@dataclass(frozen=True, slots=True)
class Send:
    """Post ``frame`` to each of ``to``, after every frame sent to it before."""

    to: tuple[str, ...]
    frame: frames.Frame


@dataclass(frozen=True, slots=True)
class WriteCheckpoint:
    """Store the text so far; then call ``checkpoint_written`` or ``checkpoint_failed``."""

    content: str
    seq: int


@dataclass(frozen=True, slots=True)
class ReadConnections:
    """Read the user's live connections; then call ``connections`` (or, if the read
    failed, ``connections_failed``)."""


@dataclass(frozen=True, slots=True)
class CloseUpstream:
    """Hang up on the model's response now, from outside its reading loop."""


@dataclass(frozen=True, slots=True)
class WriteFinish:
    """Store ``reply`` (None: none is kept) and the turn's end (``failed`` or not),
    atomically; with ``stop_wins`` only while no stop was requested. Then call
    ``finish_written`` or ``finish_failed``."""

    reply: Message | None
    failed: bool
    stop_wins: bool


@dataclass(frozen=True, slots=True)
class Done:
    """The reply is over; nothing more will be returned."""

    outcome: Outcome


Action = Send | WriteCheckpoint | ReadConnections | CloseUpstream | WriteFinish | Done
ErrorFrame = Callable[[ChatError, str], frames.Frame]  # (error, reply's message id) -> frame


class ReplyStream:
    """One reply, from its first token to its final frame.

    ``targets`` are the connections known at the start, each with the moment (epoch
    seconds) from which it must receive nothing (``math.inf``: no limit).
    ``placeholder`` is the streaming message the reply fills. ``error_frame`` turns
    a :class:`ChatError` into the frame the client gets.
    """

    def __init__(
        self,
        *,
        user_id: str,
        conversation_id: str,
        placeholder: Message,
        targets: Iterable[tuple[str, float]],
        now: float,
        error_frame: ErrorFrame,
        coalescer: Coalescer | None = None,
        watch_seconds: float = 1.0,
    ) -> None:
        self._user_id = user_id
        self._conversation_id = conversation_id
        self._reply = placeholder
        self._error_frame = error_frame
        self._coalescer = coalescer or Coalescer()
        self._watch_seconds = watch_seconds
        self._live_until: dict[str, float] = {}
        for connection_id, until in targets:
            known = self._live_until.get(connection_id, until)
            self._live_until[connection_id] = min(known, until)
        self._parts: list[str] = []
        self.seq = 0
        self.phase = Phase.STREAMING
        self.outcome: Outcome | None = None
        self.error: ChatError | None = None
        self.stored: Message | None = None  # the reply as the finishing write stored it
        self._finished: Finished | None = None
        self._stopping = False
        self._watched = now
        self._checkpointing = False

    # What it holds -------------------------------------------------------------------

    @property
    def content(self) -> str:
        return "".join(self._parts)

    def live_until(self, connection_id: str) -> float:
        """When a connection it sends to stops being one to send to (epoch seconds)."""
        return self._live_until[connection_id]

    @property
    def usage(self) -> dict[str, int]:
        """What the provider reported the answer cost (empty: it reported nothing)."""
        return self._finished.usage if self._finished else {}

    @property
    def tick_interval(self) -> float:
        """How often ``tick`` should be called while streaming."""
        return self._coalescer.interval

    # Events ---------------------------------------------------------------------------

    def model_delta(self, text: str, now: float) -> list[Action]:
        if self.phase is not Phase.STREAMING or self._stopping:
            return []
        return self._chunk(self._coalescer.feed(text, now), now)

    def tick(self, now: float) -> list[Action]:
        """Gathered text whose interval has passed; about every ``watch_seconds`` a
        checkpoint (one at a time)."""
        if self.phase is not Phase.STREAMING:
            return []
        actions = self._chunk(self._coalescer.due(now), now)
        if not self._checkpointing and now - self._watched >= self._watch_seconds:
            self._checkpointing = True
            self._watched = now
            actions.append(WriteCheckpoint(self.content, self.seq - 1))
        return actions

    def checkpoint_written(self, outcome: Checkpoint, now: float) -> list[Action]:
        self._checkpointing = False
        if outcome is Checkpoint.STOP:
            return self.stop_requested(now)
        if outcome is Checkpoint.GONE:
            return self.deleted(now)
        if self.phase is not Phase.STREAMING:
            return []
        if outcome is Checkpoint.LOST:  # a retry answers the turn now: not a word more
            return self._end(Outcome.LOST, [CloseUpstream()])
        return [ReadConnections()]

    def checkpoint_failed(self, now: float) -> list[Action]:
        """The write raised: it is tried again at the next watch; joiners are still
        looked for."""
        self._checkpointing = False
        return [ReadConnections()] if self.phase is Phase.STREAMING else []

    def connections(self, live: Iterable[tuple[str, float]], now: float) -> list[Action]:
        """The user's connections as just read, each with its ``live_until``. While
        streaming, new ones get a snapshot; after the finishing write, everyone live
        gets the final frame."""
        if self.phase not in (Phase.STREAMING, Phase.PUBLISHING):
            return []
        joiners = []
        for connection_id, until in live:
            if connection_id in self._live_until:
                self._live_until[connection_id] = min(self._live_until[connection_id], until)
            elif until > now:
                self._live_until[connection_id] = until
                joiners.append(connection_id)
        if self.phase is Phase.PUBLISHING:  # the final frames, to those not yet told
            sends: list[Action] = [Send(tuple(joiners), f) for f in self._final_frames() if joiners]
            return self._end(self._final_outcome(), sends)
        if not joiners:
            return []
        snapshot = frames.ai_response_snapshot(
            self._conversation_id, self._reply.message_id, self.content, self.seq - 1
        )
        # Cut to fit one post, as the final frame is: a larger one would be refused.
        return [Send(tuple(joiners), frames.fit_content(snapshot))]

    def connections_failed(self, now: float) -> list[Action]:
        """The read raised: the connections already known have the final frame."""
        return self._end(self._final_outcome(), []) if self.phase is Phase.PUBLISHING else []

    def model_end(self, finished: Finished, now: float) -> list[Action]:
        if self.phase is not Phase.STREAMING or self._stopping:
            return []
        self._finished = finished
        actions = self._chunk(self._coalescer.flush(now), now)
        return [*actions, *self._finish(self._answer(finished), failed=False, stop_wins=True)]

    def model_failed(self, error: ChatError, now: float) -> list[Action]:
        """The upstream broke. After a stop was requested, that is us hanging up: the
        reply is already ending ``stopped``."""
        if self.phase is not Phase.STREAMING or self._stopping:
            return []
        self.error = error
        actions = self._chunk(self._coalescer.flush(now), now)
        kept = self._answer(Finished("error", ""), MessageStatus.ERROR) if self._parts else None
        # A stop acknowledged before the upstream broke still wins: the reply ends stopped.
        return [*actions, *self._finish(kept, failed=True, stop_wins=True)]

    def stop_requested(self, now: float) -> list[Action]:
        if self.phase is not Phase.STREAMING or self._stopping:
            return []
        self._stopping = True
        actions = self._chunk(self._coalescer.flush(now), now)
        stopped = self._answer(Finished("stopped", ""), MessageStatus.STOPPED)
        return [*actions, CloseUpstream(), *self._finish(stopped, failed=False, stop_wins=False)]

    def finish_written(self, settled: Settled, now: float) -> list[Action]:
        if self.phase is not Phase.FINISHING:
            return []
        if settled is Settled.STOP_REQUESTED:  # the stop came first: it wins
            self.error = None
            model = self._finished.model if self._finished else ""
            usage = self._finished.usage if self._finished else {}
            self._stopping = True
            stopped = self._answer(Finished("stopped", model, usage), MessageStatus.STOPPED)
            return self._finish(stopped, failed=False, stop_wins=False)
        if settled is Settled.LOST:
            return self._end(Outcome.LOST, [CloseUpstream()])
        return self._publish_to_known(now)

    def finish_failed(self, error: ChatError, now: float) -> list[Action]:
        """The finishing write raised: the answer still goes out, and the error after
        it (the turn was not stored as answered)."""
        if self.phase is not Phase.FINISHING:
            return []
        self.error = self.error or error
        return self._publish_to_known(now)

    def not_started(self, error: ChatError, now: float) -> list[Action]:
        """The reply could not start (the model was not asked) and its turn is already
        marked failed: the error frame is the turn's end."""
        if self.phase is not Phase.STREAMING:
            return []
        self.error = error
        frame = self._error_frame(error, self._reply.message_id)
        return self._end(Outcome.FAILED, self._send(frame, now))

    def deleted(self, now: float) -> list[Action]:
        """The conversation is gone: nothing more is sent. The delete itself tells
        every connection, after the driver says (``reply_ended``) that this one ended."""
        if self.phase is Phase.DONE:
            return []
        actions: list[Action] = [CloseUpstream()] if self.phase is Phase.STREAMING else []
        self.stored = None
        return self._end(Outcome.DELETED, actions)

    # Inside ---------------------------------------------------------------------------

    def _live(self, now: float) -> tuple[str, ...]:
        return tuple(c for c, until in self._live_until.items() if until > now)

    def _send(self, frame: frames.Frame, now: float) -> list[Action]:
        to = self._live(now)
        return [Send(to, frame)] if to else []

    def _chunk(self, text: str | None, now: float) -> list[Action]:
        if not text:
            return []
        self._parts.append(text)
        frame = frames.ai_response_chunk(
            self._conversation_id, self._reply.message_id, self.seq, text
        )
        self.seq += 1
        return self._send(frame, now)

    def _answer(self, finished: Finished, status: MessageStatus | None = None) -> Message:
        return replace(
            self._reply,
            content=self.content,
            model=finished.model or None,
            provider=finished.provider,
            finish_reason=finished.reason,
            usage=finished.usage,
            status=status or MessageStatus.COMPLETE,
        )

    def _finish(self, reply: Message | None, *, failed: bool, stop_wins: bool) -> list[Action]:
        self.phase = Phase.FINISHING
        self.stored = reply
        return [WriteFinish(reply, failed, stop_wins)]

    def _publish_to_known(self, now: float) -> list[Action]:
        """Stored: the final frames go at once to every live connection known, then one
        more read finds those that connected meanwhile (``connections`` sends them the
        same frames), so no connection that exists before the end misses it."""
        self.phase = Phase.PUBLISHING
        actions: list[Action] = []
        for frame in self._final_frames():
            actions += self._send(frame, now)
        return [*actions, ReadConnections()]

    def _final_frames(self) -> list[frames.Frame]:
        finals: list[frames.Frame] = []
        if self.stored is not None:
            final = frames.ai_response(self._user_id, self._conversation_id, self.stored)
            # The chunks carried every word; the final frame must fit one post.
            finals.append(frames.fit_content(final))
        if self.error is not None:
            finals.append(self._error_frame(self.error, self._reply.message_id))
        return finals

    def _final_outcome(self) -> Outcome:
        if self.error is not None:
            return Outcome.FAILED
        if self.stored is not None and self.stored.status is MessageStatus.STOPPED:
            return Outcome.STOPPED
        return Outcome.ANSWERED

    def _end(self, outcome: Outcome, actions: list[Action]) -> list[Action]:
        self.phase = Phase.DONE
        self.outcome = outcome
        return [*actions, Done(outcome)]
