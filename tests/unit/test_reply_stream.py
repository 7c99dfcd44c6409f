"""The reply's rules, driven with a fake clock and exact event orders: late joiners,
a stop racing the end, expiry, ownership and deletion are ordinary cases here."""

from __future__ import annotations

import math
from collections import defaultdict

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from realtime_chat import frames
from realtime_chat.coalescer import Coalescer
from realtime_chat.domain import Checkpoint, Finished, Message, MessageStatus, Role, Settled
from realtime_chat.errors import ChatError, ErrorCode
from realtime_chat.reply_stream import (
    Action,
    CloseUpstream,
    Done,
    Outcome,
    Phase,
    ReadConnections,
    ReplyStream,
    Send,
    WriteCheckpoint,
    WriteFinish,
)

T0 = 1_800_000_000.0
PLACEHOLDER = Message(
    "r1", Role.ASSISTANT, "", "2027-01-15T08:00:00.001Z", status=MessageStatus.STREAMING
)
UNAVAILABLE = ChatError(ErrorCode.AI_UNAVAILABLE, "The AI provider is unavailable.", retryable=True)


def _error_frame(error: ChatError, message_id: str) -> frames.Frame:
    return frames.error(error, action="chat_message", request_id="req-1") | {
        "messageId": message_id
    }


class Wire:
    """What each connection received, from the actions a stream returned."""

    def __init__(self) -> None:
        self.received: dict[str, list[frames.Frame]] = defaultdict(list)
        self.writes: list[Action] = []
        self.closed = 0
        self.done: list[Outcome] = []

    def take(self, actions: list[Action]) -> list[Action]:
        for action in actions:
            if isinstance(action, Send):
                for connection_id in action.to:
                    self.received[connection_id].append(action.frame)
            elif isinstance(action, CloseUpstream):
                self.closed += 1
            elif isinstance(action, Done):
                self.done.append(action.outcome)
            else:
                self.writes.append(action)
        return actions

    def types(self, connection_id: str) -> list[str]:
        return [f["type"] for f in self.received[connection_id]]


def _stream(*targets: tuple[str, float], watch: float = 1.0) -> ReplyStream:
    return ReplyStream(
        user_id="ada",
        conversation_id="c1",
        placeholder=PLACEHOLDER,
        targets=targets or (("laptop", math.inf),),
        now=T0,
        error_frame=_error_frame,
        coalescer=Coalescer(interval=0.1),
        watch_seconds=watch,
    )


def _finish_normally(
    stream: ReplyStream, wire: Wire, live: list[tuple[str, float]], now: float
) -> None:
    """The model ends; the finishing write succeeds; the connections are read."""
    actions = wire.take(stream.model_end(Finished("stop", "m", {"totalTokens": 9}), now))
    assert isinstance(actions[-1], WriteFinish) and actions[-1].stop_wins
    published = wire.take(stream.finish_written(Settled.WRITTEN, now))
    # the final frame goes to the connections known at once, then one more read
    assert published[-1] == ReadConnections()
    assert all(isinstance(a, Send) for a in published[:-1])
    wire.take(stream.connections(live, now))


def _final(wire: Wire, connection_id: str) -> frames.Frame:
    (final,) = [f for f in wire.received[connection_id] if f["type"] == "ai_response"]
    return final


def test_a_tab_that_connects_during_the_finishing_write_gets_the_final_frame() -> None:
    # GIVEN a reply that streamed to the laptop
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("Hello", T0 + 0.01))
    # WHEN a tab connects after the last look for joiners, while the answer is stored
    _finish_normally(stream, wire, [("laptop", math.inf), ("tab", math.inf)], T0 + 0.02)
    # THEN the tab gets the final frame, with the whole answer, as the laptop does
    assert wire.types("tab") == ["ai_response"]
    assert _final(wire, "tab") == _final(wire, "laptop")
    assert _final(wire, "tab")["content"] == "Hello"
    assert wire.done == [Outcome.ANSWERED]


def test_a_joiners_snapshot_of_a_very_long_answer_is_cut_to_fit_one_post_and_says_so() -> None:
    # GIVEN an answer (a large AiMaxTokens) longer than one post can carry
    stream, wire = _stream(), Wire()
    long = "word " * (frames.MAX_POST_BYTES // 4)
    for n in range(0, len(long), 2000):
        wire.take(stream.model_delta(long[n : n + 2000], T0 + n / 1e6))
    wire.take(stream.tick(T0 + 1.0))
    wire.take(stream.checkpoint_written(Checkpoint.CONTINUE, T0 + 1.0))
    # WHEN a tab joins
    wire.take(stream.connections([("laptop", math.inf), ("tab", math.inf)], T0 + 1.0))
    # THEN its snapshot fits one post, holds the first part of the text and is marked
    (snapshot,) = wire.received["tab"]
    assert frames.size(snapshot) <= frames.MAX_POST_BYTES
    assert snapshot["contentTruncated"] is True
    assert long.startswith(snapshot["content"]) and snapshot["content"]
    assert snapshot["seq"] == stream.seq - 1


def test_a_tab_that_joins_mid_answer_gets_the_snapshot_then_later_chunks_then_the_final_frame() -> (
    None
):
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("Once ", T0))
    wire.take(stream.model_delta("upon ", T0 + 0.2))
    # WHEN the watch comes round: a checkpoint, then the connections, with a new tab
    (checkpoint,) = [a for a in wire.take(stream.tick(T0 + 1.0)) if isinstance(a, WriteCheckpoint)]
    assert (checkpoint.content, checkpoint.seq) == ("Once upon ", 1)
    assert wire.take(stream.checkpoint_written(Checkpoint.CONTINUE, T0 + 1.0)) == [
        ReadConnections()
    ]
    wire.take(stream.connections([("laptop", math.inf), ("tab", math.inf)], T0 + 1.0))
    wire.take(stream.model_delta("a time", T0 + 1.2))
    _finish_normally(stream, wire, [("laptop", math.inf), ("tab", math.inf)], T0 + 1.3)
    # THEN the tab's snapshot and the later chunks make the final answer exactly
    snapshot, chunk, final = wire.received["tab"]
    assert (snapshot["type"], snapshot["content"], snapshot["seq"]) == (
        "ai_response_snapshot",
        "Once upon ",
        1,
    )
    assert (chunk["seq"], chunk["delta"]) == (2, "a time")
    assert snapshot["content"] + chunk["delta"] == final["content"] == "Once upon a time"


def test_a_stop_found_by_the_finishing_write_wins_and_the_reply_ends_stopped() -> None:
    # GIVEN a reply whose model has just finished
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("Done", T0))
    wire.take(stream.model_end(Finished("stop", "m", {"totalTokens": 9}), T0 + 0.1))
    # WHEN the finishing write finds that a stop was acknowledged just before it
    (write,) = wire.take(stream.finish_written(Settled.STOP_REQUESTED, T0 + 0.1))
    # THEN the reply is stored as stopped instead (the stop was promised)
    assert isinstance(write, WriteFinish) and not write.stop_wins
    assert write.reply is not None and write.reply.status is MessageStatus.STOPPED
    wire.take(stream.finish_written(Settled.WRITTEN, T0 + 0.1))
    wire.take(stream.connections([("laptop", math.inf)], T0 + 0.1))
    # AND every connection's final frame says stopped, with the text it had
    assert (_final(wire, "laptop")["finishReason"], _final(wire, "laptop")["content"]) == (
        "stopped",
        "Done",
    )
    assert wire.done == [Outcome.STOPPED]


def test_a_stop_closes_the_upstream_and_the_read_it_aborts_is_not_an_error() -> None:
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("Par", T0))
    wire.take(stream.tick(T0 + 1.0))
    # WHEN the checkpoint finds a stop request
    actions = wire.take(stream.checkpoint_written(Checkpoint.STOP, T0 + 1.0))
    # THEN the upstream is closed at once, and the stopped reply written
    assert CloseUpstream() in actions and isinstance(actions[-1], WriteFinish)
    # AND the read that the hang-up aborts is not reported
    assert stream.model_failed(UNAVAILABLE, T0 + 1.01) == []
    wire.take(stream.finish_written(Settled.WRITTEN, T0 + 1.02))
    wire.take(stream.connections([], T0 + 1.02))
    assert wire.types("laptop") == ["ai_response_chunk", "ai_response"]
    assert _final(wire, "laptop")["finishReason"] == "stopped"


def test_a_provider_failure_after_a_stop_was_acknowledged_ends_stopped_not_as_an_error() -> None:
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("Par", T0))
    # WHEN the provider breaks before the checkpoint saw the acknowledged stop
    (write,) = [
        a
        for a in wire.take(stream.model_failed(UNAVAILABLE, T0 + 0.2))
        if isinstance(a, WriteFinish)
    ]
    assert write.stop_wins
    (stopped,) = wire.take(stream.finish_written(Settled.STOP_REQUESTED, T0 + 0.2))
    assert isinstance(stopped, WriteFinish) and not stopped.failed
    wire.take(stream.finish_written(Settled.WRITTEN, T0 + 0.2))
    wire.take(stream.connections([], T0 + 0.2))
    # THEN the stop wins: a stopped answer and no error
    assert wire.types("laptop") == ["ai_response_chunk", "ai_response"]
    assert _final(wire, "laptop")["finishReason"] == "stopped"
    assert wire.done == [Outcome.STOPPED] and stream.error is None


def test_a_failed_checkpoint_is_retried_at_the_next_watch_and_joiners_are_still_looked_for() -> (
    None
):
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("a", T0))
    assert any(isinstance(a, WriteCheckpoint) for a in wire.take(stream.tick(T0 + 1.0)))
    # WHEN the write raises (throttled after botocore's retries)
    assert wire.take(stream.checkpoint_failed(T0 + 1.0)) == [ReadConnections()]
    # THEN a new tab is still welcomed
    wire.take(stream.connections([("tab", math.inf)], T0 + 1.0))
    assert wire.types("tab") == ["ai_response_snapshot"]
    # AND the next watch writes the checkpoint again, which finds the stop
    assert not any(isinstance(a, WriteCheckpoint) for a in stream.tick(T0 + 1.5))
    assert any(isinstance(a, WriteCheckpoint) for a in stream.tick(T0 + 2.0))
    assert isinstance(stream.checkpoint_written(Checkpoint.STOP, T0 + 2.0)[-1], WriteFinish)


def test_an_expired_connection_gets_nothing_further_not_even_the_final_frame() -> None:
    # GIVEN a tab whose token expires two seconds into the reply
    stream, wire = _stream(("laptop", math.inf), ("old-tab", T0 + 2)), Wire()
    wire.take(stream.model_delta("one ", T0))
    wire.take(stream.model_delta("two ", T0 + 2.5))
    _finish_normally(stream, wire, [("laptop", math.inf), ("old-tab", T0 + 2)], T0 + 3)
    # THEN it got only what was sent before its expiry
    assert [f.get("delta") for f in wire.received["old-tab"]] == ["one "]
    assert wire.types("laptop") == ["ai_response_chunk", "ai_response_chunk", "ai_response"]


def test_an_expired_connection_is_not_welcomed_as_a_joiner() -> None:
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("a", T0))
    wire.take(stream.connections([("stale", T0 - 1)], T0 + 1))
    assert wire.received["stale"] == []


def test_a_reply_that_lost_its_turn_to_another_attempt_ends_without_a_word() -> None:
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("a", T0))
    wire.take(stream.model_end(Finished("stop", "m"), T0 + 0.1))
    actions = wire.take(stream.finish_written(Settled.LOST, T0 + 0.1))
    assert actions[-1] == Done(Outcome.LOST)
    assert wire.types("laptop") == ["ai_response_chunk"]


def test_a_reply_whose_turn_a_retry_took_over_stops_at_its_checkpoint_without_a_word() -> None:
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("a", T0))
    wire.take(stream.tick(T0 + 1))
    actions = wire.take(stream.checkpoint_written(Checkpoint.LOST, T0 + 1))
    assert actions == [CloseUpstream(), Done(Outcome.LOST)]
    assert stream.model_end(Finished("stop", "m"), T0 + 2) == []
    assert wire.types("laptop") == ["ai_response_chunk"]


def test_a_deletion_mid_stream_ends_the_reply_without_a_word_more() -> None:
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("a", T0))
    wire.take(stream.tick(T0 + 1))
    wire.take(stream.checkpoint_written(Checkpoint.GONE, T0 + 1))
    assert wire.closed == 1
    assert (
        stream.model_delta("b", T0 + 1.1) == []
        and stream.model_end(Finished("stop", "m"), T0 + 2) == []
    )
    # the delete itself sends conversation_deleted, once this reply has ended
    assert wire.types("laptop") == ["ai_response_chunk"]
    assert wire.done == [Outcome.DELETED]


def test_a_broken_stream_keeps_its_text_and_ends_with_the_answer_then_the_error() -> None:
    stream, wire = _stream(), Wire()
    wire.take(stream.model_delta("Part", T0))
    (write,) = [
        a
        for a in wire.take(stream.model_failed(UNAVAILABLE, T0 + 0.5))
        if isinstance(a, WriteFinish)
    ]
    assert write.failed and write.reply is not None and write.reply.status is MessageStatus.ERROR
    wire.take(stream.finish_written(Settled.WRITTEN, T0 + 0.5))
    wire.take(stream.connections([], T0 + 0.5))
    assert wire.types("laptop") == ["ai_response_chunk", "ai_response", "error"]
    assert stream.phase is Phase.DONE and wire.done == [Outcome.FAILED]


def test_a_failure_before_any_text_stores_no_answer_and_sends_only_the_error() -> None:
    stream, wire = _stream(), Wire()
    (write,) = wire.take(stream.model_failed(UNAVAILABLE, T0))
    assert isinstance(write, WriteFinish) and write.reply is None and write.failed
    wire.take(stream.finish_written(Settled.WRITTEN, T0))
    wire.take(stream.connections([], T0))
    assert wire.types("laptop") == ["error"]


def test_the_final_frame_goes_to_known_connections_when_the_last_read_fails() -> None:
    stream, wire = _stream(), Wire()
    wire.take(stream.model_end(Finished("stop", "m"), T0))
    wire.take(stream.finish_written(Settled.WRITTEN, T0))
    wire.take(stream.connections_failed(T0))
    assert wire.types("laptop") == ["ai_response"]


# Whatever order the world moves in -------------------------------------------------

TERMINAL = {"ai_response", "conversation_deleted"}


class ReplyWorld(RuleBasedStateMachine):
    """A reply against a simulated store and connections table: the model's events,
    joins, token expiry, stops, deletion and the results of every write and read (or
    their failure) arrive in any order hypothesis picks."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.table: dict[str, float] = {"laptop": math.inf, "tab": T0 + 3}
        self.stream = ReplyStream(
            user_id="ada",
            conversation_id="c1",
            placeholder=PLACEHOLDER,
            targets=list(self.table.items()),
            now=T0,
            error_frame=_error_frame,
            coalescer=Coalescer(interval=0.1),
            watch_seconds=1.0,
        )
        self.sent: dict[str, list[tuple[float, frames.Frame]]] = defaultdict(list)
        self.io: list[Action] = []  # writes and reads on their way, oldest first
        self.status = "streaming"  # the stored reply's
        self.stop_flag = self.deleted = self.acked = False
        self.final_read: dict[str, float] | None = None  # the table the last read saw
        self.final_read_at = T0  # when it saw it
        self.final_at: float | None = None
        self.model_over = False
        self.write_failed = False
        self.taken_over = False

    def _take(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                for connection_id in action.to:
                    self.sent[connection_id].append((self.now, action.frame))
                    if action.frame["type"] in TERMINAL | {"error"} and self.final_at is None:
                        self.final_at = self.now
            elif isinstance(action, WriteCheckpoint | ReadConnections | WriteFinish):
                self.io.append(action)

    @rule(text=st.sampled_from(["a", "bc ", "déf"]))
    def delta(self, text: str) -> None:
        if not self.model_over:
            self._take(self.stream.model_delta(text, self.now))

    @rule(seconds=st.sampled_from([0.05, 0.3, 1.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self._take(self.stream.tick(self.now))

    @rule(
        name=st.sampled_from(["phone", "tab-2", "tab-3"]),
        lifetime=st.sampled_from([-1, 0.5, 5, math.inf]),
    )
    def connects(self, name: str, lifetime: float) -> None:
        self.table.setdefault(name, self.now + lifetime)

    @rule()
    def stop(self) -> None:
        if self.status == "streaming" and not self.deleted:
            self.stop_flag = self.acked = True

    @rule()
    def delete(self) -> None:
        self.deleted = True

    @rule()
    def retry_takes_over(self) -> None:
        if self.status == "streaming":
            self.taken_over = True

    @rule()
    def model_ends(self) -> None:
        if not self.model_over:
            self.model_over = True
            self._take(self.stream.model_end(Finished("stop", "m"), self.now))

    @rule()
    def model_breaks(self) -> None:
        if not self.model_over:
            self.model_over = True
            self._take(self.stream.model_failed(UNAVAILABLE, self.now))

    @precondition(lambda self: bool(self.io))
    @rule(fails=st.booleans())
    def io_completes(self, fails: bool) -> None:
        action = self.io.pop(0)
        if isinstance(action, WriteCheckpoint):
            if fails:
                self._take(self.stream.checkpoint_failed(self.now))
            else:
                outcome = (
                    Checkpoint.GONE
                    if self.deleted
                    else Checkpoint.LOST
                    if self.taken_over
                    else Checkpoint.STOP
                    if self.stop_flag
                    else Checkpoint.CONTINUE
                )
                self._take(self.stream.checkpoint_written(outcome, self.now))
        elif isinstance(action, ReadConnections):
            if self.stream.phase is Phase.PUBLISHING and not fails:
                self.final_read = dict(self.table)
                self.final_read_at = self.now
            if fails:
                self._take(self.stream.connections_failed(self.now))
            else:
                live = [(c, until) for c, until in self.table.items() if until > self.now]
                self._take(self.stream.connections(live, self.now))
        elif isinstance(action, WriteFinish):
            if fails:
                self.write_failed = True
                self._take(self.stream.finish_failed(ChatError.internal("x", "r"), self.now))
            elif self.deleted:
                self._take(self.stream.deleted(self.now))
            elif self.taken_over:
                self._take(self.stream.finish_written(Settled.LOST, self.now))
            elif action.stop_wins and self.stop_flag:  # the stop was first
                self._take(self.stream.finish_written(Settled.STOP_REQUESTED, self.now))
            else:
                self.status = "done"
                self._take(self.stream.finish_written(Settled.WRITTEN, self.now))

    def teardown(self) -> None:
        # Whatever is left happens: the model ends, every write and read completes.
        self.model_ends()
        while self.io:
            self.io_completes(fails=False)
        assert self.stream.phase is Phase.DONE
        if self.stream.outcome in (Outcome.LOST, Outcome.DELETED):
            # The attempt that took the turn over ends it, or the delete tells every
            # connection: this one says nothing more.
            assert not any(f["type"] in TERMINAL for r in self.sent.values() for _, f in r)
            return
        for connection_id, received in self.sent.items():
            until = self.table[connection_id]
            # No connection receives anything once its token or connection expired.
            assert all(at < until for at, _ in received), connection_id
            kinds = [f["type"] for _, f in received]
            ends = [k for k in kinds if k in TERMINAL]
            if until > (self.final_at or self.now):
                # Exactly one end, last (an error may follow the answer it broke off)
                assert len(ends) <= 1, kinds
                if ends:
                    assert kinds[-1] == ends[0] or kinds[-2:] == ["ai_response", "error"], kinds
                else:
                    assert kinds.count("error") == 1 and kinds[-1] == "error", kinds
        if self.final_read is not None and self.stream.outcome is not Outcome.DELETED:
            # Everyone connected before the final frame, and live when the last read
            # found them (the known ones got it first, the read's newcomers after), got it.
            for connection_id, until in self.final_read.items():
                if until > self.final_read_at:
                    assert self.sent[connection_id], connection_id
        if self.acked and self.stream.outcome is not Outcome.DELETED:
            # A stop acknowledged is never followed by a normal end: the reply ends
            # stopped, unless its finishing write itself failed.
            assert self.stream.outcome is not Outcome.ANSWERED
            if not self.write_failed:
                assert self.stream.outcome is Outcome.STOPPED
        if self.stream.outcome in (Outcome.ANSWERED, Outcome.STOPPED):
            # Snapshot (if any) + later chunks are the final answer, for everyone who
            # got either (one found only by the last read gets the final frame alone).
            for connection_id, received in self.sent.items():
                if [f["type"] for _, f in received] == ["ai_response"]:
                    continue
                text, seen = "", -1
                for _, frame in received:
                    if frame["type"] == "ai_response_snapshot":
                        text, seen = frame["content"], frame["seq"]
                    elif frame["type"] == "ai_response_chunk":
                        assert frame["seq"] == seen + 1, connection_id
                        text, seen = text + frame["delta"], frame["seq"]
                    elif frame["type"] == "ai_response":
                        assert frame["content"] == text, connection_id


ReplyWorld.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_whatever_order_events_arrive_in_every_live_connection_ends_once = ReplyWorld.TestCase
