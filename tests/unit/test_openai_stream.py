"""The OpenAI-compatible adapter against a real SSE server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_stack.ai_upstream.model_server import MODEL_NAME, ModelServer, Scenario
from realtime_chat.adapters.openai_stream import OpenAICompatibleModel
from realtime_chat.errors import ModelRejectedKey, ModelUnavailable
from realtime_chat.model import Finished, PromptMessage, TextDelta

PROMPT = [PromptMessage("system", "be brief"), PromptMessage("user", "hello there")]


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer(scenario=Scenario(tokens=3)) as running:
        yield running


def _model(server: ModelServer, slept: list[float], **options: float) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(
        base_url=server.url,
        model="m",
        max_tokens=64,
        temperature=0.1,
        read_timeout=options.get("read_timeout", 5.0),
        sleep=slept.append,
    )


def test_a_stream_yields_deltas_then_one_finish_with_model_and_usage(server: ModelServer) -> None:
    events = list(_model(server, []).stream(PROMPT, api_key="k"))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "You said: hello there token0 token1 token2 "
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert (finished.reason, finished.model) == ("stop", MODEL_NAME)
    assert finished.usage["completionTokens"] == 6
    (request,) = server.requests
    assert request["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ]
    assert (request["stream"], request["max_tokens"], request["temperature"]) == (True, 64, 0.1)
    assert server.keys == ["k"]


def test_throttling_is_retried_honouring_retry_after(server: ModelServer) -> None:
    server.scenario.statuses = [429]
    server.scenario.retry_after = "2"
    slept: list[float] = []
    events = list(_model(server, slept).stream(PROMPT, api_key="k"))
    assert isinstance(events[-1], Finished)
    assert slept == [2.0]
    assert len(server.requests) == 2


def test_server_errors_back_off_then_give_up(server: ModelServer) -> None:
    server.scenario.statuses = [500, 502, 503]
    slept: list[float] = []
    with pytest.raises(ModelUnavailable, match="503 after 3 attempts"):
        list(_model(server, slept).stream(PROMPT, api_key="k"))
    assert slept == [0.5, 1.0]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_not_retried(server: ModelServer, status: int) -> None:
    server.scenario.statuses = [status]
    with pytest.raises(ModelRejectedKey):
        list(_model(server, []).stream(PROMPT, api_key="k"))
    assert len(server.requests) == 1


def test_a_bad_request_is_not_retried(server: ModelServer) -> None:
    server.scenario.statuses = [400]
    with pytest.raises(ModelUnavailable, match="400"):
        list(_model(server, []).stream(PROMPT, api_key="k"))
    assert len(server.requests) == 1


def test_nothing_listening_is_unavailable_after_retries() -> None:
    model = OpenAICompatibleModel(
        base_url="http://127.0.0.1:9/v1",
        model="m",
        max_tokens=8,
        temperature=0,
        connect_timeout=0.5,
        sleep=lambda _s: None,
    )
    with pytest.raises(ModelUnavailable, match="ConnectionError"):
        list(model.stream(PROMPT, api_key="k"))


def test_a_broken_stream_raises_after_the_text_that_arrived(server: ModelServer) -> None:
    server.scenario.break_after = 2
    received: list[str] = []
    with pytest.raises(ModelUnavailable):
        for event in _model(server, []).stream(PROMPT, api_key="k"):
            if isinstance(event, TextDelta):
                received.append(event.text)
    assert received == ["You said: ", "hello "]
    assert len(server.requests) == 1
