"""An OpenAI-compatible chat completions client that streams (SSE) through ``requests``.

Works with OpenRouter, OpenAI, DeepSeek, and local servers such as Ollama or vLLM.
Retries 429, 5xx and connection failures with backoff, but only before the first
token: once text has been streamed, a failure ends the answer instead of
repeating it. Asks for the usage in the stream (``stream_options.include_usage``;
providers that do not know it ignore it). A stream's ``close()`` may be called from
another thread while a read is blocked: it shuts the socket, and the read ends at once;
during a retry's backoff it ends the wait, and no further request is sent.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests
from urllib3.exceptions import HTTPError as TransportError

from realtime_chat.domain import Finished, ModelEvent, PromptMessage, TextDelta
from realtime_chat.errors import ModelRejectedKey, ModelUnavailable
from realtime_chat.model_options import ModelOption

__all__ = ["OpenAICompatibleModel", "SseStream"]

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAICompatibleModel:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        max_tokens: int,
        temperature: float,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        wait: Callable[[threading.Event, float], bool] = threading.Event.wait,
    ) -> None:
        """``wait(closed, seconds)`` is a retry's backoff: it returns True as soon as
        ``closed`` is set (the stream was closed), else False after ``seconds``."""
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._timeout = (connect_timeout, read_timeout)
        self._retries = retries
        self._backoff = backoff
        self._session = session or requests.Session()
        self._wait = wait

    def stream(
        self,
        prompt: Sequence[PromptMessage],
        *,
        api_key: str,
        choice: ModelOption | None = None,
    ) -> SseStream:
        """``choice``: an allow-listed model, sent instead of the configured one."""
        return SseStream(lambda closed: self._open(prompt, api_key, choice, closed), self._events)

    def _open(
        self,
        prompt: Sequence[PromptMessage],
        api_key: str,
        choice: ModelOption | None,
        closed: threading.Event,
    ) -> requests.Response:
        body = {
            "model": choice.model if choice else self._model,
            "messages": [{"role": m.role, "content": m.content} for m in prompt],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": (choice and choice.max_tokens) or self._max_tokens,
            "temperature": self._temperature,
        }
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        attempt = 0
        while True:
            if closed.is_set():  # a stop during the backoff: no further request
                raise ModelUnavailable("closed before the provider answered")
            problem: str
            retry_after: float | None = None
            try:
                response = self._session.post(
                    self._url, json=body, headers=headers, stream=True, timeout=self._timeout
                )
            except requests.RequestException as err:
                problem = f"{type(err).__name__} reaching the provider"
            else:
                if response.status_code < 300:
                    return response
                response.close()
                if response.status_code in (401, 403):
                    raise ModelRejectedKey(f"provider answered {response.status_code}")
                problem = f"provider answered {response.status_code}"
                if response.status_code not in _RETRY_STATUS:
                    raise ModelUnavailable(problem)
                retry_after = _seconds(response.headers.get("Retry-After"))
            if attempt >= self._retries:
                raise ModelUnavailable(f"{problem} after {attempt + 1} attempts")
            self._wait(closed, min(retry_after or self._backoff * 2**attempt, 10.0))
            attempt += 1

    def _events(self, response: requests.Response) -> Iterator[ModelEvent]:
        model, reason = self._model, None
        usage: dict[str, int] = {}
        try:
            for line in _lines(response):
                if not line.startswith("data:"):
                    continue  # blank separators, comments (": keep-alive"), event names
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    raise ModelUnavailable(f"provider error mid-stream: {chunk['error']}")
                model = chunk.get("model") or model
                usage = _usage(chunk.get("usage")) or usage
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield TextDelta(text)
                    reason = choice.get("finish_reason") or reason
        except (requests.RequestException, TransportError, OSError, ValueError) as err:
            raise ModelUnavailable(f"stream broke: {type(err).__name__}") from None
        if reason is None:
            raise ModelUnavailable("stream ended without a finish reason")
        yield Finished(reason=reason, model=model, usage=usage)


class SseStream:
    """One answer's events, read on first iteration; ``close`` hangs up from any thread."""

    def __init__(
        self,
        open_: Callable[[threading.Event], requests.Response],
        events: Callable[[requests.Response], Iterator[ModelEvent]],
    ) -> None:
        """``open_(closed)`` sends the request (retrying), giving up once ``closed`` is set."""
        self._open = open_
        self._events = events
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[ModelEvent]:
        response = self._open(self._closed)
        with self._lock:
            closed, self._response = self._closed.is_set(), response
        with response:
            if not closed:
                yield from self._events(response)

    def close(self) -> None:
        """Stop reading: a read blocked on the provider ends now (with an error the
        caller, who asked for it, ignores), and the provider sees the hang-up."""
        with self._lock:
            self._closed.set()
            response = self._response
        if response is None:
            return
        # Closing a socket does not wake a thread blocked reading it; shutting it does.
        connection = getattr(response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # already closed by the provider
                sock.shutdown(socket.SHUT_RDWR)


def _lines(response: requests.Response) -> Iterator[str]:
    """SSE lines as soon as their bytes arrive.

    ``iter_lines`` would wait for 512 bytes before yielding anything from a
    close-delimited body, holding back the first tokens; chunked bodies (what hosted
    providers send) are read chunk by chunk, others with ``read1``.
    """
    raw = response.raw
    pieces: Iterator[bytes] = (
        raw.stream(None, decode_content=True)
        if raw.chunked
        else iter(lambda: raw.read1(65536, decode_content=True), b"")
    )
    pending = b""
    for piece in pieces:
        pending += piece
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r").decode("utf-8")
    if pending:
        yield pending.decode("utf-8")


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    names = {
        "prompt_tokens": "promptTokens",
        "completion_tokens": "completionTokens",
        "total_tokens": "totalTokens",
    }
    return {names[k]: int(v) for k, v in raw.items() if k in names and isinstance(v, int)}


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
