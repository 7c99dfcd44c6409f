"""The OpenAI-compatible adapter against a real SSE server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from local_stack.ai_upstream.provider_server import MODEL_NAME, ProviderServer, Scenario
from realtime_chat.adapters.openai_stream import OpenAICompatibleModel, SseStream
from realtime_chat.domain import Finished, ModelEvent, PromptMessage, TextDelta
from realtime_chat.errors import ModelRejectedKey, ModelUnavailable

PROMPT = [PromptMessage("system", "be brief"), PromptMessage("user", "hello there")]


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    with ProviderServer(scenario=Scenario(tokens=3)) as running:
        yield running


def _model(server: ProviderServer, slept: list[float], **options: float) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(
        base_url=server.url,
        model="m",
        max_tokens=64,
        temperature=0.1,
        read_timeout=options.get("read_timeout", 5.0),
        wait=lambda _closed, seconds: slept.append(seconds) or False,
    )


def test_a_stream_yields_deltas_then_one_finish_with_model_and_usage(
    server: ProviderServer,
) -> None:
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
    # Usage is asked for in the stream: a stopped answer is charged what it cost
    assert request["stream_options"] == {"include_usage": True}
    assert server.keys == ["k"]


def test_throttling_is_retried_honouring_retry_after(server: ProviderServer) -> None:
    server.scenario.statuses = [429]
    server.scenario.retry_after = "2"
    slept: list[float] = []
    events = list(_model(server, slept).stream(PROMPT, api_key="k"))
    assert isinstance(events[-1], Finished)
    assert slept == [2.0]
    assert len(server.requests) == 2


def test_server_errors_back_off_then_give_up(server: ProviderServer) -> None:
    server.scenario.statuses = [500, 502, 503]
    slept: list[float] = []
    with pytest.raises(ModelUnavailable, match="503 after 3 attempts"):
        list(_model(server, slept).stream(PROMPT, api_key="k"))
    assert slept == [0.5, 1.0]


def test_a_stop_during_the_backoff_sends_no_further_request(server: ProviderServer) -> None:
    # GIVEN a provider that throttles the first request
    server.scenario.statuses = [429]
    streams: list[SseStream] = []

    def stopped_while_waiting(closed: threading.Event, seconds: float) -> bool:
        streams[0].close()  # WHEN the reply is stopped during the backoff
        return closed.is_set()

    model = OpenAICompatibleModel(
        base_url=server.url, model="m", max_tokens=8, temperature=0, wait=stopped_while_waiting
    )
    streams.append(model.stream(PROMPT, api_key="k"))
    # THEN the stream ends without asking the provider again
    with pytest.raises(ModelUnavailable, match="closed"):
        list(streams[0])
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_not_retried(server: ProviderServer, status: int) -> None:
    server.scenario.statuses = [status]
    with pytest.raises(ModelRejectedKey):
        list(_model(server, []).stream(PROMPT, api_key="k"))
    assert len(server.requests) == 1


def test_a_bad_request_is_not_retried(server: ProviderServer) -> None:
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
        wait=lambda _closed, _seconds: False,
    )
    with pytest.raises(ModelUnavailable, match="ConnectionError"):
        list(model.stream(PROMPT, api_key="k"))


def test_a_broken_stream_raises_after_the_text_that_arrived(server: ProviderServer) -> None:
    server.scenario.break_after = 2
    received: list[str] = []
    with pytest.raises(ModelUnavailable):
        for event in _model(server, []).stream(PROMPT, api_key="k"):
            if isinstance(event, TextDelta):
                received.append(event.text)
    assert received == ["You said: ", "hello "]
    assert len(server.requests) == 1


class _RawSse(BaseHTTPRequestHandler):
    """Answers every POST with ``body`` exactly as given (a provider's own spacing)."""

    body = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def test_data_lines_without_a_space_after_the_colon_are_read() -> None:
    # GIVEN a provider writing "data:{...}" (the SSE spec makes the space optional)
    chunks = [
        {"model": "m", "choices": [{"delta": {"content": "Hi"}}]},
        {"model": "m", "choices": [{"delta": {}, "finish_reason": "stop"}]},
    ]
    _RawSse.body = b"".join(b"data:" + json.dumps(c).encode() + b"\n\n" for c in chunks)
    _RawSse.body += b"data:[DONE]\n\n"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RawSse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        model = OpenAICompatibleModel(
            base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
            model="m",
            max_tokens=8,
            temperature=0,
        )
        events = list(model.stream(PROMPT, api_key="k"))
    finally:
        server.shutdown()
        server.server_close()
    # THEN its text and its end are read
    assert events == [TextDelta("Hi"), Finished("stop", "m")]


def test_closing_a_stream_from_another_thread_ends_a_read_the_provider_left_hanging(
    server: ProviderServer,
) -> None:
    # GIVEN a provider that goes silent for 20 s after two tokens
    server.scenario.stall_after = 2
    server.scenario.stall_seconds = 20
    stream = _model(server, [], read_timeout=30).stream(PROMPT, api_key="k")
    received: list[ModelEvent] = []
    ended: list[BaseException | None] = []

    def read() -> None:
        try:
            received.extend(stream)
            ended.append(None)
        except ModelUnavailable as err:
            ended.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while len(received) < 2:
        reader.join(0.01)
    # WHEN the stream is closed from here, while the reader waits on the socket
    stream.close()
    # THEN the read ends now, not when the provider speaks again (nor at a timeout)
    reader.join(10)
    assert not reader.is_alive()
    assert len(ended) == 1 and received == [TextDelta("You said: "), TextDelta("hello ")]
