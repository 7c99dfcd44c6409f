"""The reply worker's edges, with a scripted model: every turn ends with a final frame."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.model import Finished, ModelEvent, PromptMessage, ReplyJob, TextDelta
from realtime_chat.settings import ai_settings
from realtime_chat.usecases.chat import generate_reply
from tests.support.aws import CHAT_TABLE
from tests.support.fakes import MemoryConnections, RecordingSender

JOB = ReplyJob("ada", "c1", "m1", "2026-11-25T20:00:00.000Z", "hi", "req-1", "conn-1", "https://x")


class Model:
    def __init__(self, *events: ModelEvent) -> None:
        self.events = events

    def stream(self, prompt: Sequence[PromptMessage], *, api_key: str) -> Iterator[ModelEvent]:
        yield from self.events


class Key:
    def api_key(self, *, refresh: bool = False) -> str:
        return "k"


class BrokenStore(DynamoChatStore):
    def add_message(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DynamoDB is having a day")


def _reply(
    store: DynamoChatStore,
    model: Any,
    sender: RecordingSender | None = None,
    clock: Callable[[], float] = lambda: 1_800_000_000.0,
) -> list[dict[str, Any]]:
    sender = sender or RecordingSender()
    generate_reply(
        JOB,
        settings=ai_settings({"AWS_LAMBDA_FUNCTION_NAME": "f"}),
        chat=store,
        connections=MemoryConnections(),
        sender=sender,
        keys=Key(),
        model=model,
        clock=clock,
    )
    return sender.sent["conn-1"]


@pytest.fixture
def store(moto_aws: Any) -> DynamoChatStore:
    return DynamoChatStore(moto_aws, CHAT_TABLE)


def test_an_empty_answer_still_ends_the_turn_and_is_stored(store: DynamoChatStore) -> None:
    frames = _reply(store, Model(Finished("content_filter", "m")))
    assert [f["type"] for f in frames] == ["ai_response"]
    assert (frames[0]["content"], frames[0]["finishReason"]) == ("", "content_filter")
    assert store.history("ada", "c1", limit=5, before=None)[0][0].content == ""


def test_a_reply_that_cannot_be_stored_is_still_delivered_and_reported(moto_aws: Any) -> None:
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

    def stream(self, prompt: Sequence[PromptMessage], *, api_key: str) -> Iterator[ModelEvent]:
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
