"""The reply's promises (docs/protocol.md, "Resuming a reply" and "Stopping a reply"),
through the real driver and the real chat store on moto: models scripted to act at
the worst moment make each race an exact sequence."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.config import Config

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import (
    Attempt,
    Connection,
    Finished,
    Identity,
    Message,
    MessageStatus,
    ModelEvent,
    PromptMessage,
    ReplyJob,
    Role,
    TextDelta,
    TurnState,
)
from realtime_chat.errors import AiNotConfigured, ModelUnavailable
from realtime_chat.model_options import ModelOption
from realtime_chat.settings import ai_settings
from realtime_chat.usecases.reply import Reply, estimate_tokens, generate_reply
from tests.support.aws import CHAT_TABLE
from tests.support.fakes import MemoryConnections, RecordingSender
from tests.support.faults import DynamoFault

T = 1_800_000_000.0
ASKED = "2026-11-25T20:00:00.000Z"
QUESTION = Message("m1", Role.USER, "hi", ASKED)
ANSWER = Message(
    "a1", Role.ASSISTANT, "", "2026-11-25T20:00:00.001Z", status=MessageStatus.STREAMING
)
# As chat_message hands it over: the streaming answer was stored with the turn.
JOB = ReplyJob(
    "ada", "c1", "m1", ASKED, "hi", "req-1", "laptop", "https://x",
    client_message_id="cm-1", reply_id="a1", reply_timestamp=ANSWER.timestamp,
)  # fmt: skip
EVER = "2000-01-01T00:00:00.000Z"  # stale_before: every streaming reply is stoppable


def _connection(connection_id: str, *, until: float = T + 7200) -> Connection:
    return Connection(connection_id, Identity("ada"), 0, int(until))


@pytest.fixture
def store(moto_aws: Any) -> DynamoChatStore:
    """ada's turn, stored with its streaming answer as ``chat_message`` stores it."""
    chat = DynamoChatStore(moto_aws, CHAT_TABLE)
    chat.begin_turn("ada", "c1", QUESTION, title="hi", client_message_id="cm-1", reply=ANSWER)
    return chat


class Key:
    def api_key(self, *, refresh: bool = False) -> str:
        return "k"


class Budget:
    def __init__(self) -> None:
        self.spent: list[int] = []

    def acquire(self, user_id: str, *, now: float) -> None:
        return None

    def spend(self, user_id: str, tokens: int, *, now: float) -> None:
        self.spent.append(tokens)

    def release(self, user_id: str) -> None: ...


class Scripted:
    """Yields ``events``; a callable among them is called instead (the world moving
    at that moment). Records the prompts it was asked and how often."""

    def __init__(self, *events: ModelEvent | Callable[[], object]) -> None:
        self.events = events
        self.prompts: list[Sequence[PromptMessage]] = []

    def stream(
        self, prompt: Sequence[PromptMessage], *, api_key: str, choice: ModelOption | None = None
    ) -> Iterator[ModelEvent]:
        self.prompts.append(prompt)
        for event in self.events:
            if callable(event):
                event()
            else:
                yield event


def _run(
    store: DynamoChatStore,
    model: Any,
    *,
    job: ReplyJob = JOB,
    sender: RecordingSender | None = None,
    connections: MemoryConnections | None = None,
    clock: Callable[[], float] = lambda: T,
    **options: Any,
) -> tuple[Reply, RecordingSender]:
    sender = sender or RecordingSender()
    reply = generate_reply(
        job,
        settings=ai_settings({}),
        chat=store,
        connections=connections if connections is not None else MemoryConnections(),
        sender=sender,
        keys=Key(),
        model=model,
        clock=clock,
        **options,
    )
    return reply, sender


def _types(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames]


def _stored(store: DynamoChatStore) -> Message:
    return store.history("ada", "c1", limit=5, before=None)[0][-1]


# Defect 1: every connection that exists before the final frame gets it ---------------


def test_a_tab_that_connects_in_the_last_moment_of_a_reply_gets_its_end(
    store: DynamoChatStore,
) -> None:
    # GIVEN a reply streaming to the laptop
    connections = MemoryConnections(_connection("laptop"))
    # WHEN a tab connects after the last token, before the final frame is published
    model = Scripted(
        TextDelta("Hello "),
        TextDelta("there"),
        lambda: connections.save(_connection("new-tab")),
        Finished("stop", "m"),
    )
    _, sender = _run(store, model, connections=connections)
    # THEN the tab gets the final frame, with the whole answer
    assert _types(sender.sent["new-tab"]) == ["ai_response"]
    assert sender.sent["new-tab"][0]["content"] == "Hello there"
    assert sender.sent["new-tab"][0] == sender.sent["laptop"][-1]


# Defect 6: a stop acknowledged just before the end wins ------------------------------


def test_a_stop_acknowledged_just_before_the_end_makes_the_reply_end_stopped(
    store: DynamoChatStore,
) -> None:
    acknowledged: list[list[str]] = []
    # GIVEN a model that has sent its whole answer; WHEN a stop is acknowledged
    # between its last token and the finishing write
    model = Scripted(
        TextDelta("The whole answer"),
        lambda: acknowledged.append(store.request_stop("ada", "c1", stale_before=EVER)),
        Finished("stop", "m", {"totalTokens": 12}),
    )
    reply, sender = _run(store, model)
    # THEN the stop was acknowledged for this reply, and the reply ends stopped:
    # never an acknowledgement and a normal end
    assert acknowledged == [["a1"]]
    final = sender.sent["laptop"][-1]
    assert (final["type"], final["finishReason"], final["content"]) == (
        "ai_response",
        "stopped",
        "The whole answer",
    )
    assert (_stored(store).status, _stored(store).finish_reason) == (
        MessageStatus.STOPPED,
        "stopped",
    )
    assert reply.error is None


def test_a_provider_failure_after_an_acknowledged_stop_ends_the_reply_stopped(
    store: DynamoChatStore,
) -> None:
    def stop_then_break() -> None:
        assert store.request_stop("ada", "c1", stale_before=EVER) == ["a1"]
        raise ModelUnavailable("read timed out")

    # GIVEN a stop acknowledged; WHEN the provider's read breaks before the reply saw it
    reply, sender = _run(store, Scripted(TextDelta("Some"), stop_then_break))
    # THEN the stop wins: the text so far, stopped, and no error
    assert _types(sender.sent["laptop"]) == ["ai_response_chunk", "ai_response"]
    assert sender.sent["laptop"][-1]["finishReason"] == "stopped"
    assert reply.error is None and _stored(store).status is MessageStatus.STOPPED


# Defect 5: a stop closes the upstream from outside its reading loop ------------------


class Stalling:
    """One token, then nothing until closed, or until ``read_timeout`` passes and it
    breaks as a provider's read timeout would."""

    def __init__(self, on_first: Callable[[], object], read_timeout: float = 10.0) -> None:
        self.hung_up = threading.Event()
        self._on_first = on_first
        self._read_timeout = read_timeout

    def stream(
        self, prompt: Sequence[PromptMessage], *, api_key: str, choice: ModelOption | None = None
    ) -> Stalling:
        return self

    def __iter__(self) -> Iterator[ModelEvent]:
        yield TextDelta("Once upon")
        self._on_first()
        if not self.hung_up.wait(self._read_timeout):
            raise ModelUnavailable("read timed out")
        raise ModelUnavailable("connection closed")  # what a read ends with after a hang-up

    def close(self) -> None:
        self.hung_up.set()


def test_a_stop_ends_the_reply_stopped_while_the_provider_sends_nothing(
    store: DynamoChatStore,
) -> None:
    import time

    # GIVEN a provider that goes silent after one token, and a stop requested then
    model = Stalling(lambda: store.request_stop("ada", "c1", stale_before=EVER))
    # WHEN the reply runs (watching every 50 ms)
    reply, sender = _run(store, model, clock=time.time, watch_seconds=0.05)
    # THEN it hung up on the provider rather than waiting for its read timeout
    assert model.hung_up.is_set()
    # AND the reply ended stopped: the read our hang-up aborted is not an error
    assert _types(sender.sent["laptop"]) == ["ai_response_chunk", "ai_response"]
    assert sender.sent["laptop"][-1]["finishReason"] == "stopped"
    assert reply.error is None and _stored(store).status is MessageStatus.STOPPED


# Defect 2: a failed checkpoint or connections read is retried; stop and join work ----


class Flaky(DynamoChatStore):
    """The chat table, whose first checkpoint write fails as a throttled one does."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.failures = 0

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failures:
            self.failures += 1
            raise RuntimeError("ProvisionedThroughputExceededException after retries")
        return super().checkpoint(*args, **kwargs)


class Ticking:
    """Tokens every 20 ms, for as long as it is read; ``on_token(n)`` before each."""

    def __init__(self, on_token: Callable[[int], object], tokens: int = 300) -> None:
        self.on_token = on_token
        self.tokens = tokens

    def stream(
        self, prompt: Sequence[PromptMessage], *, api_key: str, choice: ModelOption | None = None
    ) -> Iterator[ModelEvent]:
        import time

        for n in range(self.tokens):
            self.on_token(n)
            yield TextDelta(f"t{n} ")
            time.sleep(0.02)
        yield Finished("stop", "m")


def test_a_checkpoint_that_fails_is_logged_counted_and_retried_and_a_stop_still_works(
    store: DynamoChatStore,
    moto_aws: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import time

    flaky = Flaky(moto_aws, CHAT_TABLE)
    # GIVEN a stop requested at once, and a first checkpoint write that fails
    model = Ticking(lambda n: n == 1 and store.request_stop("ada", "c1", stale_before=EVER))
    # WHEN the reply runs
    reply, sender = _run(flaky, model, clock=time.time, watch_seconds=0.05)
    # THEN the next checkpoint found the stop: the reply ended stopped, well before
    # the model's 300 tokens
    final = sender.sent["laptop"][-1]
    assert (final["type"], final["finishReason"]) == ("ai_response", "stopped")
    assert "t299" not in final["content"] and reply.error is None
    # AND the failure was logged and counted
    assert '"ReplyCheckpointFailures"' in capfd.readouterr().out
    assert any(
        r.getMessage().startswith("reply checkpoint failed")
        and getattr(r, "request_id", None) == "req-1"
        for r in caplog.records
    )


class FlakyConnections(MemoryConnections):
    def __init__(self, *connections: Connection) -> None:
        super().__init__(*connections)
        self.reads = 0

    def connections_of(self, user_id: str, *, now: float) -> list[Connection]:
        self.reads += 1
        if self.reads == 1:
            raise RuntimeError("ProvisionedThroughputExceededException after retries")
        return super().connections_of(user_id, now=now)


def test_a_connections_read_that_fails_is_retried_and_a_new_tab_still_joins(
    store: DynamoChatStore, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    connections = FlakyConnections(_connection("laptop", until=time.time() + 600))
    tab = _connection("tab", until=time.time() + 600)
    # GIVEN a tab that opens at once, and a first connections read that fails
    model = Ticking(lambda n: n == 1 and connections.save(tab), tokens=25)
    _, sender = _run(store, model, connections=connections, clock=time.time, watch_seconds=0.05)
    # THEN a later read found the tab: it got a snapshot, then the rest, then the end
    seen = sender.sent["tab"]
    assert seen[0]["type"] == "ai_response_snapshot" and seen[-1]["type"] == "ai_response"
    rest = "".join(f["delta"] for f in seen if f["type"] == "ai_response_chunk")
    assert seen[0]["content"] + rest == seen[-1]["content"]
    assert '"ReplyConnectionsReadFailures"' in capsys.readouterr().out


# Defect 7: an expired connection gets nothing further --------------------------------


def test_a_tab_whose_token_expires_mid_reply_receives_nothing_after(
    store: DynamoChatStore,
) -> None:
    # GIVEN a clock a tenth of a second on at each look, and a tab (known from the
    # acknowledgement) whose token expires two seconds into the reply
    ticks = itertools.count()
    clock = lambda: T + next(ticks) / 10  # noqa: E731
    job = replace(JOB, connections=(("old-tab", int(T) + 2),))
    model = Scripted(*(TextDelta(f"w{n} ") for n in range(40)), Finished("stop", "m"))
    # WHEN the reply runs
    _, sender = _run(store, model, job=job, clock=clock)
    # THEN the tab got the beginning only: no later chunk, and no final frame
    assert "ai_response" in _types(sender.sent["laptop"])
    assert "ai_response" not in _types(sender.sent["old-tab"])
    assert len(sender.sent["old-tab"]) < len(sender.sent["laptop"]) - 1


# Defect 8: a reply job owns its turn --------------------------------------------------


def test_a_job_delivered_again_after_its_turn_was_answered_is_dropped(
    store: DynamoChatStore,
) -> None:
    # GIVEN a turn answered by its job
    _run(store, Scripted(TextDelta("First"), Finished("stop", "m")))
    # WHEN the same job is delivered again (late, or twice)
    again = Scripted(TextDelta("Second"), Finished("stop", "m"))
    reply, sender = _run(store, again)
    # THEN the model is not asked, nobody hears from it, and the answer stays the first
    assert again.prompts == [] and sender.sent == {}
    assert reply.dropped and reply.message is None
    assert [m.content for m in store.history("ada", "c1", limit=5, before=None)[0]] == [
        "hi",
        "First",
    ]


def test_a_second_job_for_a_turn_that_another_attempt_is_answering_is_dropped(
    store: DynamoChatStore,
) -> None:
    second: list[Reply] = []
    late = Scripted(TextDelta("Twice"), Finished("stop", "m"))
    # GIVEN a job streaming its turn's answer; WHEN another job for the turn starts
    model = Scripted(
        TextDelta("Once"),
        lambda: second.append(_run(store, late)[0]),
        Finished("stop", "m"),
    )
    reply, sender = _run(store, model)
    # THEN the second never asks the model; the first answers, once
    assert second[0].dropped and late.prompts == []
    assert _types(sender.sent["laptop"]) == ["ai_response_chunk", "ai_response"]
    assert reply.message is not None and _stored(store).content == "Once"
    turn = store.find_turn("ada", "cm-1")
    assert turn is not None and turn.state is TurnState.ANSWERED


def test_a_reply_whose_turn_a_retry_takes_over_stops_at_its_next_checkpoint(
    store: DynamoChatStore,
) -> None:
    import time

    # GIVEN a reply streaming; WHEN a retry takes its turn over (as once its claim is
    # older than a reply may run)
    def take_over(n: int) -> None:
        if n == 1:
            future = "2999-01-01T00:00:00.000Z"
            assert store.retry_turn("ada", "c1", QUESTION, now=future, stale_before=future)

    model = Ticking(take_over, tokens=300)
    reply, sender = _run(store, model, clock=time.time, watch_seconds=0.05)
    # THEN it stops at its next checkpoint, says nothing more, and leaves the turn
    # to the retry
    assert reply.dropped and reply.message is None
    assert set(_types(sender.sent["laptop"])) == {"ai_response_chunk"}
    assert len(sender.sent["laptop"]) < 100
    turn = store.find_turn("ada", "cm-1")
    assert turn is not None and turn.state is TurnState.PENDING


# Defect 3 and the budget's gaps ------------------------------------------------------


def test_a_turn_without_reported_usage_is_charged_for_everything_sent_and_its_answer(
    store: DynamoChatStore,
) -> None:
    # GIVEN a conversation with a long history, and a provider that reports no usage
    for n in range(3):
        earlier = Message(f"e{n}", Role.USER, "earlier words " * 200, f"2026-11-25T19:0{n}:00.000Z")
        store.add_message("ada", "c1", earlier, title="hi")
    answer = "a long answer " * 50
    model = Scripted(TextDelta(answer), Finished("stop", "m"))
    budget = Budget()
    # WHEN the reply runs
    _run(store, model, budget=budget)
    # THEN the charge counts every character sent (system prompt, history, question)
    # and the answer's, at about four a token
    (prompt,) = model.prompts
    sent = sum(len(m.content) for m in prompt)
    assert sent > 3 * len("earlier words " * 200)
    assert budget.spent == [math.ceil(sent / 4) + math.ceil(len(answer) / 4)]
    assert budget.spent == [estimate_tokens(prompt, answer)]


def test_a_turn_whose_provider_reports_usage_is_charged_that(store: DynamoChatStore) -> None:
    budget = Budget()
    _run(
        store, Scripted(TextDelta("Hi"), Finished("stop", "m", {"totalTokens": 77})), budget=budget
    )
    assert budget.spent == [77]


def test_a_reply_whose_conversation_is_deleted_mid_stream_is_still_charged(
    store: DynamoChatStore,
) -> None:
    import time

    budget = Budget()
    model = Ticking(lambda n: n == 2 and store.delete("ada", "c1"), tokens=200)
    _, sender = _run(store, model, clock=time.time, watch_seconds=0.05, budget=budget)
    assert {f["type"] for f in sender.sent["laptop"]} <= {"ai_response_chunk"}
    assert len(budget.spent) == 1 and budget.spent[0] > 0


class NoKey:
    def api_key(self, *, refresh: bool = False) -> str:
        raise AiNotConfigured("secret s has no apiKey", public="Set the AI key.")


def test_a_turn_whose_provider_failed_before_answering_is_not_charged(
    store: DynamoChatStore,
) -> None:
    # GIVEN a provider that refuses the request (a 5xx before its first byte)
    def refuses() -> None:
        raise ModelUnavailable("provider answered 503 after 3 attempts")

    budget = Budget()
    # WHEN the reply runs THEN the user hears the provider is unavailable
    _, sender = _run(store, Scripted(refuses), budget=budget)
    assert sender.sent["laptop"][-1]["code"] == "AI_UNAVAILABLE"
    # AND is charged nothing: the model never answered
    assert budget.spent == []


def test_a_turn_whose_ai_is_not_configured_is_not_charged(store: DynamoChatStore) -> None:
    budget = Budget()
    model = Scripted(TextDelta("never"), Finished("stop", "m"))
    reply = generate_reply(
        JOB,
        settings=ai_settings({"AWS_LAMBDA_FUNCTION_NAME": "f"}),
        chat=store,
        connections=MemoryConnections(),
        sender=RecordingSender(),
        keys=NoKey(),
        model=model,
        clock=lambda: T,
        budget=budget,
    )
    assert reply.error is not None and reply.error.value == "AI_NOT_CONFIGURED"
    assert model.prompts == [] and budget.spent == []


def test_a_reply_whose_claim_fails_tells_the_user_and_its_turn_can_be_retried_at_once(
    store: DynamoChatStore, moto_aws: Any
) -> None:
    # GIVEN a reply whose DynamoDB refuses its claim past its retries (throttling)
    client = boto3.client(
        "dynamodb", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1})
    )
    DynamoFault(client.meta.events, "UpdateItem", "ProvisionedThroughputExceededException")
    model = Scripted(TextDelta("never"), Finished("stop", "m"))
    # WHEN the reply job runs
    reply, sender = _run(DynamoChatStore(client, CHAT_TABLE), model)
    # THEN the user is told, on the turn's answer, that it failed and may be retried
    (error,) = sender.sent["laptop"]
    assert (error["code"], error["retryable"]) == ("INTERNAL_ERROR", True)
    assert (error["messageId"], error["clientMessageId"]) == ("a1", "cm-1")
    assert reply.error is not None and model.prompts == []
    # AND the turn is failed, its empty answer gone: a retry runs it at once
    turn = store.find_turn("ada", "cm-1")
    assert turn is not None and turn.state is TurnState.FAILED
    assert [m.role for m in store.history("ada", "c1", limit=5, before=None)[0]] == [Role.USER]
    assert store.retry_turn("ada", "c1", QUESTION, now=ASKED, stale_before=EVER)


def test_a_reply_that_cannot_start_says_nothing_when_another_attempt_answers_the_turn(
    store: DynamoChatStore,
) -> None:
    # GIVEN a turn another attempt claimed (its job was delivered twice)
    store.claim_turn("ada", "c1", Attempt(QUESTION, "other", ANSWER), now=ASKED)
    # WHEN this attempt could not start THEN it fails nothing
    assert not store.fail_unstarted("ada", "c1", Attempt(QUESTION, "mine", ANSWER))
    turn = store.find_turn("ada", "cm-1")
    assert turn is not None and turn.state is TurnState.PENDING


# Errors and delivery gaps -------------------------------------------------------------


def test_the_client_is_never_told_the_providers_error_text(store: DynamoChatStore) -> None:
    def breaks() -> None:
        raise ModelUnavailable("provider error mid-stream: {'message': 'org-4242 over quota'}")

    _, sender = _run(store, Scripted(TextDelta("Part"), breaks))
    error = sender.sent["laptop"][-1]
    assert (error["type"], error["code"]) == ("error", "AI_UNAVAILABLE")
    assert error["message"] == "The AI provider is unavailable right now. Please try again."
    assert "org-4242" not in str(sender.sent)


def test_a_connection_found_gone_is_forgotten_and_the_others_still_receive(
    store: DynamoChatStore,
) -> None:
    connections = MemoryConnections(_connection("laptop"), _connection("closed-tab"))
    sender = RecordingSender(gone={"closed-tab"})
    job = replace(JOB, connections=(("closed-tab", int(T) + 600),))
    _run(
        store,
        Scripted(TextDelta("Hi"), Finished("stop", "m")),
        job=job,
        sender=sender,
        connections=connections,
    )
    assert connections.deleted == ["closed-tab"]
    assert _types(sender.sent["laptop"]) == ["ai_response_chunk", "ai_response"]
