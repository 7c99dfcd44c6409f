"""A local AI upstream that streams a deterministic reply: an OpenAI-compatible chat
completions endpoint (SSE) and Amazon Bedrock's ConverseStream
(``POST /model/{modelId}/converse-stream``, AWS event-stream messages), alike.

It is the default AI upstream of ``make run`` and the upstream of the tests, which
drive it through a ``Scenario``: token count and rate, status codes to answer
first, a broken or stalled stream, the API key it accepts. Every request's body is
kept, so tests can assert exactly what the model was sent. boto3 reaches the
Bedrock side through ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` (``bedrock_url``).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Any

from local_stack.ai_upstream.eventstream import encode_event, encode_exception
from local_stack.loopback import LoopbackServer, send_json

__all__ = ["ProviderServer", "Scenario", "reply_tokens"]

MODEL_NAME = "local/echo-1"


@dataclass
class Scenario:
    tokens: int = 12  # words of filler after the echo of the question
    delay: float = 0.0  # seconds between tokens
    statuses: list[int] = field(default_factory=list)  # answered (and consumed) first
    break_after: int | None = None  # close the connection after this many tokens
    stall_after: int | None = None  # stop sending (but keep the socket) after this many
    stall_seconds: float = 5.0
    api_key: str | None = None  # when set, other keys get 401
    retry_after: str | None = None
    chunked: bool = True  # hosted providers send chunked bodies; False: close-delimited
    garbage_after: int | None = None  # send a data line that is not JSON after this many
    error_after: int | None = None  # send an SSE error event after this many tokens
    plain_body: dict[str, Any] | None = None  # answer 200 with this JSON instead of a stream
    # Bedrock only: answer with these event-stream bytes as they are (a recorded stream).
    bedrock_replay: bytes | None = None


def reply_tokens(prompt: list[dict[str, Any]], filler: int) -> Iterator[str]:
    """The deterministic reply: an echo of the last user message, then numbered words."""
    question = next((m["content"] for m in reversed(prompt) if m.get("role") == "user"), "")
    yield "You said: "
    for word in question.split()[:50]:
        yield word + " "
    for n in range(filler):
        yield f"token{n} "


class ProviderServer(LoopbackServer):
    """Runs on 127.0.0.1 in a background thread; ``url`` is the OpenAI-style base URL."""

    def __init__(self, port: int = 0, scenario: Scenario | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.requests: list[dict[str, Any]] = []
        # Each stream's tokens as sent: (epoch seconds, characters), for the benchmarks'
        # timeline; GET /v1/streams reads them.
        self.streams: list[list[tuple[float, int]]] = []
        self.keys: list[str] = []
        self.hung_up = 0  # streams whose client closed them before the end (a stop, a break)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                server._serve(self)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/streams"):  # for benchmarks
                    send_json(self, 200, {"streams": server.streams})
                    return
                send_json(self, 200, {"data": [{"id": MODEL_NAME, "object": "model"}]})

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler, port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def bedrock_url(self) -> str:
        """The endpoint for ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``."""
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.rstrip("/")
        if path.startswith("/model/") and path.endswith("/converse-stream"):
            self._serve_bedrock(handler)
            return
        if not path.endswith("/chat/completions"):
            send_json(handler, 404, {"error": {"message": "not found"}})
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        key = (handler.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        with self._lock:
            self.requests.append(body)
            self.keys.append(key)
            scenario = self.scenario
            status = scenario.statuses.pop(0) if scenario.statuses else 200
        if scenario.api_key is not None and key != scenario.api_key:
            status = 401
        if status != 200:
            retry = {"Retry-After": scenario.retry_after} if scenario.retry_after else {}
            send_json(handler, status, {"error": {"message": f"scripted {status}"}}, retry)
            return
        if scenario.plain_body is not None:  # some gateways answer errors with a 200
            send_json(handler, 200, scenario.plain_body)
            return
        try:
            self._stream(handler, body, scenario)
        except (BrokenPipeError, ConnectionResetError):
            with self._lock:
                self.hung_up += 1  # no more tokens are generated for it
            handler.close_connection = True

    def _stream(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], s: Scenario) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        if s.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()

        def write(data: bytes) -> None:
            if s.chunked:
                data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
            handler.wfile.write(data)
            handler.wfile.flush()

        def event(payload: dict[str, Any] | str) -> None:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            write(f"data: {text}\n\n".encode())

        base = {"id": "chatcmpl-local", "object": "chat.completion.chunk", "model": MODEL_NAME}
        write(b": local model stream\n\n")
        sent = 0
        timeline: list[tuple[float, int]] = []
        self.streams.append(timeline)
        for token in reply_tokens(body.get("messages", []), s.tokens):
            if sent and s.delay:
                # Paced between tokens, as a provider generates them: the end of the
                # stream follows the last token at once.
                time.sleep(s.delay)
            if s.break_after is not None and sent >= s.break_after:
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)  # the stream breaks mid-answer
                return
            if s.stall_after is not None and sent >= s.stall_after:
                time.sleep(s.stall_seconds)
                handler.close_connection = True
                return
            if s.garbage_after is not None and sent >= s.garbage_after:
                event("{not json")
                s = replace(s, garbage_after=None)
            if s.error_after is not None and sent >= s.error_after:
                event({"error": {"message": "scripted overload", "code": 529}})
                s = replace(s, error_after=None)
            delta = {"index": 0, "delta": {"content": token}, "finish_reason": None}
            event({**base, "choices": [delta]})
            timeline.append((time.time(), len(token)))
            sent += 1
        event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        prompt_chars = sum(len(m.get("content", "")) for m in body.get("messages", []))
        usage = {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": sent,
            "total_tokens": prompt_chars // 4 + sent,
        }
        event({**base, "choices": [], "usage": usage})
        event("[DONE]")
        if s.chunked:
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()

    def _serve_bedrock(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        with self._lock:
            self.requests.append(body)
            scenario = self.scenario
            status = scenario.statuses.pop(0) if scenario.statuses else 200
        if status != 200:
            error = _BEDROCK_ERRORS.get(status, "InternalServerException")
            send_json(handler, status, {"message": f"scripted {status}"}, _error_type(error))
            return
        try:
            self._converse(handler, body, scenario)
        except (BrokenPipeError, ConnectionResetError):
            with self._lock:
                self.hung_up += 1
            handler.close_connection = True

    def _converse(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], s: Scenario) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/vnd.amazon.eventstream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def write(data: bytes) -> None:
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()

        if s.bedrock_replay is not None:
            write(s.bedrock_replay)
            handler.wfile.write(b"0\r\n\r\n")
            return
        prompt = [
            {"role": m.get("role"), "content": " ".join(b.get("text", "") for b in m["content"])}
            for m in body.get("messages", [])
        ]
        write(encode_event("messageStart", {"role": "assistant"}))
        sent = 0
        timeline: list[tuple[float, int]] = []
        self.streams.append(timeline)
        for token in reply_tokens(prompt, s.tokens):
            if sent and s.delay:
                time.sleep(s.delay)
            if s.break_after is not None and sent >= s.break_after:
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            if s.stall_after is not None and sent >= s.stall_after:
                time.sleep(s.stall_seconds)
                handler.close_connection = True
                return
            if s.error_after is not None and sent >= s.error_after:
                write(encode_exception("throttlingException", "scripted throttling"))
                handler.wfile.write(b"0\r\n\r\n")
                return
            delta = {"contentBlockIndex": 0, "delta": {"text": token}}
            write(encode_event("contentBlockDelta", delta))
            timeline.append((time.time(), len(token)))
            sent += 1
        write(encode_event("contentBlockStop", {"contentBlockIndex": 0}))
        write(encode_event("messageStop", {"stopReason": "end_turn"}))
        prompt_tokens = sum(len(m["content"]) for m in prompt) // 4
        usage = {"inputTokens": prompt_tokens, "outputTokens": sent}
        usage["totalTokens"] = prompt_tokens + sent
        write(encode_event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


# What the Bedrock side answers for a scripted status, as Bedrock names its errors.
_BEDROCK_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def _error_type(name: str) -> dict[str, str]:
    return {"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
