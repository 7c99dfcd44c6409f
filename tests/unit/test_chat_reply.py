"""The reply worker's edges, with a scripted model: every turn ends with a final frame."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import (
    Finished,
    Message,
    ModelEvent,
    PromptMessage,
    ReplyJob,
    Role,
    TextDelta,
    TurnState,
)
from realtime_chat.events import job_from_event, job_to_body, job_to_event, parse_job_batch
from realtime_chat.model_options import ModelOption
from realtime_chat.settings import ai_settings
from realtime_chat.usecases.reply import generate_reply
from tests.support.aws import CHAT_TABLE
from tests.support.fakes import MemoryConnections, RecordingSender

JOB = ReplyJob("ada", "c1", "m1", "2026-11-25T20:00:00.000Z", "hi", "req-1", "conn-1", "https://x")


class Model:
    def __init__(self, *events: ModelEvent) -> None:
        self.events = events

    def stream(
        self, prompt: Sequence[PromptMessage], *, api_key: str, choice: ModelOption | None = None
    ) -> Iterator[ModelEvent]:
        yield from self.events


class Key:
    def api_key(self, *, refresh: bool = False) -> str:
        return "k"


class BrokenStore(DynamoChatStore):
    def finish_turn(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DynamoDB is having a day")


QUESTION = Message(JOB.message_id, Role.USER, JOB.content, JOB.message_timestamp)


def _reply(
    store: DynamoChatStore,
    model: Any,
    sender: RecordingSender | None = None,
    clock: Callable[[], float] = lambda: 1_800_000_000.0,
    *,
    job: ReplyJob = JOB,
    connections: MemoryConnections | None = None,
    keys: Any = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Run the reply worker for ``job``; the frames ada's connection received."""
    sender = sender or RecordingSender()
    generate_reply(
        job,
        settings=ai_settings({}),
        chat=store,
        connections=connections or MemoryConnections(),
        sender=sender,
        keys=keys or Key(),
        model=model,
        clock=clock,
        **options,
    )
    return sender.sent["conn-1"]


@pytest.fixture
def store(moto_aws: Any) -> DynamoChatStore:
    """The chat table holding ada's question, as ``chat_message`` stored it."""
    chat = DynamoChatStore(moto_aws, CHAT_TABLE)
    chat.begin_turn("ada", "c1", QUESTION, title="hi", client_message_id="cm-1")
    return chat


def test_an_empty_answer_still_ends_the_turn_and_is_stored(store: DynamoChatStore) -> None:
    frames = _reply(store, Model(Finished("content_filter", "m")))
    assert [f["type"] for f in frames] == ["ai_response"]
    assert (frames[0]["content"], frames[0]["finishReason"]) == ("", "content_filter")
    assert store.history("ada", "c1", limit=5, before=None)[0][-1].content == ""


def test_a_reply_that_cannot_be_stored_is_still_delivered_and_reported(
    store: DynamoChatStore, moto_aws: Any
) -> None:
    frames = _reply(
        BrokenStore(moto_aws, CHAT_TABLE), Model(TextDelta("Hello"), Finished("stop", "m"))
    )
    assert [f["type"] for f in frames] == ["ai_response_chunk", "ai_response", "error"]
    assert frames[1]["content"] == "Hello"
    assert frames[2]["code"] == "INTERNAL_ERROR" and "req-1" in frames[2]["message"]


class PausingModel:
    """Two tokens at once, then a long pause (a reasoning model thinking), then the rest."""

    def __init__(self) -> None:
        self.chunks_before_resuming: list[str] = []
        self.sender: RecordingSender | None = None

    def stream(
        self, prompt: Sequence[PromptMessage], *, api_key: str, choice: ModelOption | None = None
    ) -> Iterator[ModelEvent]:
        import time

        yield TextDelta("Let me ")
        yield TextDelta("think")
        time.sleep(0.5)
        assert self.sender is not None
        self.chunks_before_resuming = [f["delta"] for f in self.sender.sent["conn-1"]]
        yield TextDelta(".")
        yield Finished("stop", "m")


def test_text_gathered_before_a_pause_goes_out_during_the_pause(store: DynamoChatStore) -> None:
    import time

    model = PausingModel()
    model.sender = RecordingSender()
    frames = _reply(store, model, model.sender, clock=time.monotonic)
    assert model.chunks_before_resuming == ["Let me ", "think"]
    assert frames[-1]["content"] == "Let me think."


def test_the_turn_records_whether_it_was_answered(store: DynamoChatStore) -> None:
    frames = _reply(store, Model(TextDelta("Hi!"), Finished("stop", "m")))
    turn = store.find_turn("ada", "cm-1")
    assert turn is not None and turn.state is TurnState.ANSWERED
    assert turn.reply is not None and turn.reply.message_id == frames[-1]["messageId"]


class ExplodingModel:
    def stream(
        self, prompt: Sequence[PromptMessage], *, api_key: str, choice: ModelOption | None = None
    ) -> Iterator[ModelEvent]:
        yield TextDelta("Part")
        raise RuntimeError("password=hunter2 at arn:aws:secretsmanager:us-east-1:123456789012")


def test_an_unexpected_failure_tells_every_connection_only_the_code_and_request_id(
    store: DynamoChatStore,
) -> None:
    # WHEN the reply fails with an exception whose text looks secret
    frames = _reply(store, ExplodingModel())
    error = frames[-1]
    # THEN the error frame is INTERNAL_ERROR with the request id, and nothing else
    assert error == {
        "type": "error",
        "code": "INTERNAL_ERROR",
        "message": "The reply failed on our side. Quote request id req-1 when reporting it.",
        "action": "chat_message",
        "requestId": "req-1",
        "retryable": True,
        "conversationId": "c1",
        "messageId": frames[0]["messageId"],
    }
    assert "hunter2" not in str(frames) and "123456789012" not in str(frames)
    # AND the partial answer is kept, the turn marked failed so a retry runs it again
    turn = store.find_turn("ada", "cm-1")
    assert turn is not None and turn.state is TurnState.FAILED


class SlowModel:
    """Tokens every 50 ms for as long as it is read; records when its stream is closed."""

    def __init__(self, before_delete: int, on_token: Callable[[int], None]) -> None:
        self.closed = False
        self.sent = 0
        self._on_token = on_token
        self._before_delete = before_delete

    def stream(
        self, prompt: Sequence[PromptMessage], *, api_key: str, choice: ModelOption | None = None
    ) -> Iterator[ModelEvent]:
        import time

        try:
            for n in range(400):
                self._on_token(n)
                self.sent += 1
                yield TextDelta(f"t{n} ")
                time.sleep(0.05)
            yield Finished("stop", "m")
        finally:
            self.closed = True


def test_deleting_the_conversation_mid_stream_ends_the_reply_and_it_stays_deleted(
    store: DynamoChatStore,
) -> None:
    import time

    # GIVEN a reply streaming slowly; the user deletes the conversation after 5 tokens
    def on_token(n: int) -> None:
        if n == 5:
            store.delete("ada", "c1")

    model = SlowModel(5, on_token)
    frames = _reply(store, model, clock=time.monotonic, watch_seconds=0.2)
    # THEN the stream stopped early and the provider's stream was closed
    assert model.closed and model.sent < 40
    # AND the reply sent nothing after its chunks (the delete says the conversation
    # is deleted, once this reply has said it ended)
    assert {f["type"] for f in frames} <= {"ai_response_chunk"}
    # AND nothing brought the conversation back
    assert store.conversation("ada", "c1") is None
    assert store.history("ada", "c1", limit=10, before=None)[0] == []


def test_an_answer_larger_than_one_post_still_ends_with_a_final_frame_that_fits(
    store: DynamoChatStore,
) -> None:
    from realtime_chat import frames as wire

    # GIVEN an answer of 200 KB (over @connections' 128 KB per post, under DynamoDB's
    # 400 KB per item)
    words = [TextDelta("é" * 1000) for _ in range(100)]
    sent = _reply(store, Model(*words, Finished("length", "m")))
    # THEN every chunk and the final frame fit one post
    assert all(wire.size(f) <= wire.MAX_POST_BYTES for f in sent)
    final = sent[-1]
    assert (final["type"], final["contentTruncated"]) == ("ai_response", True)
    # AND the chunks carried every character, and the whole answer is stored
    streamed = "".join(f["delta"] for f in sent if f["type"] == "ai_response_chunk")
    assert len(streamed) == 100_000 and streamed.startswith(final["content"])
    assert store.history("ada", "c1", limit=5, before=None)[0][-1].content == streamed


HELLO = Model(TextDelta("Hello"), Finished("stop", "m"))


class CountingConnections(MemoryConnections):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    def connections_of(self, user_id: str, *, now: float) -> list[Any]:
        self.lookups += 1
        return super().connections_of(user_id, now=now)


def test_a_reply_streams_to_the_tabs_its_acknowledgement_found_without_a_lookup(
    store: DynamoChatStore,
) -> None:
    # GIVEN a job carrying ada's other tabs as the acknowledgement found them, one of
    # whose tokens has expired since
    now = 1_800_000_000.0
    job = replace(JOB, connections=(("tab-2", int(now) + 600), ("tab-3", int(now) - 1)))
    sender, connections = RecordingSender(), CountingConnections()
    # WHEN the reply runs
    _reply(store, HELLO, sender, job=job, connections=connections)
    # THEN the sender and the live tab get the same frames, the expired tab none,
    # and no lookup was made for them: the one lookup is the last look for late
    # joiners before the final frame
    assert sender.sent["tab-2"] == sender.sent["conn-1"] != []
    assert "tab-3" not in sender.sent
    assert connections.lookups == 1


def test_a_job_travels_through_the_reply_queue_unchanged() -> None:
    job = replace(
        JOB,
        client_message_id="cm-1",
        connections=(("tab-2", 1_800_000_600),),
        reply_id="a1",
        reply_timestamp="2026-11-25T20:00:00.001Z",
    )
    (record,) = parse_job_batch({"Records": [{"messageId": "m-1", "body": job_to_body(job)}]})
    assert record.job == job
    # A job queued by an older version, or one not as written, has its tabs looked up
    # and stores its own answer.
    older = json.loads(json.dumps(job_to_event(JOB)))
    del older["job"]["connections"], older["job"]["reply_id"], older["job"]["reply_timestamp"]
    assert job_from_event(older) == JOB
    older["job"] |= {"connections": [["tab-2"]], "reply_id": "a1"}
    assert job_from_event(older) == JOB


def test_the_key_and_the_history_load_while_the_placeholder_is_stored(moto_aws: Any) -> None:
    # GIVEN a store whose placeholder write waits (up to 5 s) for the history read and
    # for the key: which can only happen if they are fetched at the same time
    history_read, key_read = threading.Event(), threading.Event()
    overlapped: list[bool] = []

    class Store(DynamoChatStore):
        def history(self, *args: Any, **kwargs: Any) -> Any:
            history_read.set()
            return super().history(*args, **kwargs)

        def start_reply(self, *args: Any, **kwargs: Any) -> Any:
            overlapped.append(history_read.wait(5) and key_read.wait(5))
            return super().start_reply(*args, **kwargs)

    class RecordingKey:
        def api_key(self, *, refresh: bool = False) -> str:
            key_read.set()
            return "k"

    store = Store(moto_aws, CHAT_TABLE)
    store.begin_turn("ada", "c1", QUESTION, title="hi", client_message_id="cm-1")
    # WHEN the reply runs
    frames = _reply(store, HELLO, keys=RecordingKey())
    # THEN both were under way while the placeholder was written, and the turn ended well
    assert overlapped == [True]
    assert frames[-1]["type"] == "ai_response"
