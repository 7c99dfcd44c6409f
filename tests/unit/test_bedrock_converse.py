"""The Bedrock ConverseStream adapter against the local Bedrock endpoint on 127.0.0.1,
live and replaying event streams recorded in Bedrock's wire format."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_stack.ai_upstream.provider_server import ProviderServer, Scenario
from realtime_chat.adapters.bedrock_converse import BedrockConverseModel, converse_request
from realtime_chat.domain import Finished, ModelEvent, PromptMessage, TextDelta
from realtime_chat.errors import ModelNotConfigured, ModelUnavailable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bedrock"
PROMPT = [PromptMessage("system", "be brief"), PromptMessage("user", "hello there")]
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    with ProviderServer(scenario=Scenario(tokens=3)) as running:
        yield running


def _model(endpoint: str) -> BedrockConverseModel:
    config = Config(
        connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1, "mode": "standard"}
    )

    def client() -> Any:
        return boto3.client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=endpoint, config=config
        )

    return BedrockConverseModel(client, model_id=MODEL_ID, max_tokens=64, temperature=0.1)


def _replay(server: ProviderServer, name: str) -> list[ModelEvent | Exception]:
    """The events the adapter makes of a recorded stream, then what it raised, if anything."""
    server.scenario.bedrock_replay = (FIXTURES / f"{name}.eventstream").read_bytes()
    seen: list[ModelEvent | Exception] = []
    try:
        seen.extend(_model(server.bedrock_url).stream(PROMPT))
    except Exception as err:  # the test asserts which
        seen.append(err)
    return seen


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_an_answer_streams_deltas_then_one_finish_with_usage_in_our_keys(
    server: ProviderServer,
) -> None:
    # GIVEN the local Bedrock endpoint  WHEN a prompt is streamed through ConverseStream
    events = list(_model(server.bedrock_url).stream(PROMPT))
    # THEN the same answer as the OpenAI-compatible side, then one Finished
    assert _text(events) == "You said: hello there token0 token1 token2 "
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert (finished.reason, finished.model, finished.provider) == ("stop", MODEL_ID, "bedrock")
    assert finished.usage["completionTokens"] == 6
    assert set(finished.usage) == {"promptTokens", "completionTokens", "totalTokens"}
    # AND the request carried the system prompt apart and the settings as inferenceConfig
    (request,) = server.requests
    assert request["system"] == [{"text": "be brief"}]
    assert request["messages"] == [{"role": "user", "content": [{"text": "hello there"}]}]
    assert request["inferenceConfig"] == {"maxTokens": 64, "temperature": 0.1}


def test_a_recorded_answer_replays_with_its_multibyte_text_and_usage(
    server: ProviderServer,
) -> None:
    events = _replay(server, "answer")
    assert _text(events) == "Hello, h\u00e9llo \U0001f30d!"
    assert events[-1] == Finished(
        reason="stop",
        model=MODEL_ID,
        usage={"promptTokens": 21, "completionTokens": 7, "totalTokens": 28},
        provider="bedrock",
    )


def test_a_recorded_answer_cut_by_max_tokens_finishes_with_length(server: ProviderServer) -> None:
    events = _replay(server, "max_tokens")
    assert _text(events) == "A long answer"
    assert isinstance(events[-1], Finished) and events[-1].reason == "length"


def test_a_guardrail_intervention_finishes_as_a_content_filter(server: ProviderServer) -> None:
    events = _replay(server, "guardrail_intervened")
    assert isinstance(events[-1], Finished) and events[-1].reason == "content_filter"


def test_throttling_mid_stream_keeps_the_text_then_is_unavailable(server: ProviderServer) -> None:
    # GIVEN a recorded stream that a throttlingException event ends after two deltas
    events = _replay(server, "throttling_mid_stream")
    # THEN the text came, and the end is an outage (never a finish)
    assert _text(events) == "Half an answer"
    assert isinstance(events[-1], ModelUnavailable)
    assert "ThrottlingException" in str(events[-1])


def test_a_model_stream_error_before_any_text_is_unavailable(server: ProviderServer) -> None:
    events = _replay(server, "model_stream_error_first")
    assert len(events) == 1 and isinstance(events[0], ModelUnavailable)


def test_a_live_throttling_event_mid_stream_is_unavailable(server: ProviderServer) -> None:
    server.scenario.error_after = 2
    seen: list[ModelEvent] = []
    with pytest.raises(ModelUnavailable):
        seen.extend(_model(server.bedrock_url).stream(PROMPT))
    assert _text(seen) == "You said: hello "


@pytest.mark.parametrize("status", [408, 424, 429, 500, 503])
def test_outages_before_the_stream_are_unavailable(server: ProviderServer, status: int) -> None:
    # ModelTimeout, ModelError, Throttling, InternalServer, ServiceUnavailable
    server.scenario.statuses = [status]
    with pytest.raises(ModelUnavailable):
        list(_model(server.bedrock_url).stream(PROMPT))


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (403, "enable access to the model"),  # AccessDeniedException
        (404, "check the model id"),  # ResourceNotFoundException
        (400, "check the configured model"),  # ValidationException
    ],
)
def test_refusals_of_the_configuration_say_what_an_operator_must_do(
    server: ProviderServer, status: int, says: str
) -> None:
    server.scenario.statuses = [status]
    with pytest.raises(ModelNotConfigured) as raised:
        list(_model(server.bedrock_url).stream(PROMPT))
    assert says in raised.value.public
    assert "arn:" not in raised.value.public  # no resource names for clients


def test_an_unreachable_endpoint_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ModelUnavailable):
        list(_model(f"http://127.0.0.1:{port}").stream(PROMPT))


def test_close_from_another_thread_ends_a_blocked_read_promptly(server: ProviderServer) -> None:
    # GIVEN a stream that stalls after its first token
    server.scenario.stall_after = 1
    server.scenario.stall_seconds = 10.0
    stream = _model(server.bedrock_url).stream(PROMPT)
    first = threading.Event()
    ended = threading.Event()

    def read() -> None:
        try:
            for _ in stream:
                first.set()
        except ModelUnavailable:
            pass  # the hang-up breaks the read: the caller asked for it
        ended.set()

    threading.Thread(target=read, daemon=True).start()
    assert first.wait(5)
    # WHEN a stop closes it from this thread
    closed_at = time.monotonic()
    stream.close()
    # THEN the blocked read ends at once, long before the stall would
    assert ended.wait(5)
    assert time.monotonic() - closed_at < 2


def test_a_stream_closed_before_it_opens_reads_nothing(server: ProviderServer) -> None:
    stream = _model(server.bedrock_url).stream(PROMPT)
    stream.close()
    assert list(stream) == []


def test_the_client_is_built_once_on_first_use(server: ProviderServer) -> None:
    built: list[int] = []

    def client() -> Any:
        built.append(1)
        return boto3.client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=server.bedrock_url
        )

    model = BedrockConverseModel(client, model_id=MODEL_ID, max_tokens=8, temperature=0.0)
    assert built == []
    list(model.stream(PROMPT))
    list(model.stream(PROMPT))
    assert built == [1]


def test_converse_messages_alternate_and_start_with_the_user() -> None:
    # GIVEN history that starts with an answer, has two user messages in a row (a turn
    # whose answer failed) and an empty message
    prompt = [
        PromptMessage("system", "be brief"),
        PromptMessage("assistant", "an answer whose question fell out of the window"),
        PromptMessage("user", "first"),
        PromptMessage("user", "again"),
        PromptMessage("assistant", ""),
        PromptMessage("assistant", "an answer"),
        PromptMessage("user", "question"),
    ]
    request = converse_request(prompt, model_id="m", max_tokens=10, temperature=0.5)
    assert request["system"] == [{"text": "be brief"}]
    assert request["messages"] == [
        {"role": "user", "content": [{"text": "first\n\nagain"}]},
        {"role": "assistant", "content": [{"text": "an answer"}]},
        {"role": "user", "content": [{"text": "question"}]},
    ]
    assert request["inferenceConfig"] == {"maxTokens": 10, "temperature": 0.5}


def test_a_prompt_without_a_user_message_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="no user message"):
        converse_request(
            [PromptMessage("system", "s")], model_id="m", max_tokens=1, temperature=0.0
        )
