"""Amazon Bedrock's ConverseStream (``bedrock-runtime``) through boto3, as a ``LanguageModel``.

The prompt becomes Converse's ``system`` blocks and ``messages`` (roles alternating,
the first a user's); ``inferenceConfig`` carries the same max tokens and temperature
as the OpenAI-compatible provider. Text deltas become ``TextDelta``; ``messageStop``'s
``stopReason`` and the ``metadata`` event's usage become one ``Finished`` with the
same usage keys the OpenAI adapter reports. Retries (throttling, 5xx, connection
errors) are botocore's own, set on the client, and only happen before the stream
starts. No API key: IAM signs the request.

A stream's ``close()`` may be called from another thread while a read is blocked: it
shuts the response's socket (found through botocore's public ``after-call`` event),
and the read ends at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as TransportError

from realtime_chat.domain import Finished, ModelEvent, PromptMessage, TextDelta
from realtime_chat.errors import ModelNotConfigured, ModelUnavailable
from realtime_chat.model_options import ModelOption

__all__ = ["BedrockConverseModel", "BedrockRuntime", "ConverseStream", "converse_request"]

# Converse's stopReason -> our finishReason. Guardrails and content filters end the
# answer as OpenAI's (and Azure's) filter does, so clients see one value for both.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}

# Bedrock's error codes (exception names; in a stream, the same with a lowercase first
# letter) that say the request as configured cannot succeed, with what to do.
_NOT_CONFIGURED = {
    "AccessDeniedException": (
        "Amazon Bedrock refused access to the AI model. An operator must enable access to "
        "the model in the Bedrock console and allow this function to invoke it."
    ),
    "ResourceNotFoundException": (
        "Amazon Bedrock does not know the configured AI model. An operator must check the "
        "model id in the AI routes."
    ),
    "ValidationException": (
        "Amazon Bedrock rejected the request to the AI model. An operator must check the "
        "configured model and its settings."
    ),
}

_EVENT = "after-call.bedrock-runtime.ConverseStream"


class BedrockRuntime(Protocol):
    """The part of boto3's ``bedrock-runtime`` client the adapter uses."""

    @property
    def meta(self) -> Any: ...

    def converse_stream(self, **kwargs: Any) -> Mapping[str, Any]: ...


class BedrockConverseModel:
    """Streams answers from one Bedrock model (an id, an ARN or an inference profile).

    ``client`` is called once, on the first answer, so a container that never asks
    Bedrock never builds the client (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` redirects it,
    as the local stack does)."""

    def __init__(
        self,
        client: Callable[[], BedrockRuntime],
        *,
        model_id: str,
        max_tokens: int,
        temperature: float,
    ) -> None:
        if not model_id:
            raise ValueError("a Bedrock route needs a model id")
        self._make_client = client
        self._client: BedrockRuntime | None = None
        self._model_id = model_id
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._lock = threading.Lock()
        self._opened = threading.local()

    def stream(
        self,
        prompt: Sequence[PromptMessage],
        *,
        api_key: str = "",
        choice: ModelOption | None = None,
    ) -> ConverseStream:
        """The answer's events, asked for on first iteration; ``api_key`` is ignored.
        ``choice``: an allow-listed model, asked instead, with its token cap."""
        model_id = choice.model if choice else self._model_id
        request = converse_request(
            prompt,
            model_id=model_id,
            max_tokens=(choice and choice.max_tokens) or self._max_tokens,
            temperature=self._temperature,
        )
        return ConverseStream(lambda: self._open(request), model_id)

    def _open(self, request: dict[str, Any]) -> tuple[Any, Any]:
        """Send the request: the response's event stream and its HTTP response."""
        client = self._runtime()
        self._opened.response = None
        try:
            response = client.converse_stream(**request)
        except ClientError as err:
            raise _translated(err) from None
        except BotoCoreError as err:  # connect and read timeouts, refused connections
            raise ModelUnavailable(f"{type(err).__name__} reaching Bedrock") from None
        return response["stream"], self._opened.response

    def _runtime(self) -> BedrockRuntime:
        with self._lock:
            if self._client is None:
                client = self._make_client()
                client.meta.events.register(_EVENT, self._remember)
                self._client = client
            return self._client

    def _remember(self, http_response: Any = None, **_: Any) -> None:
        # Runs on the thread that called converse_stream, before it returns.
        self._opened.response = http_response


class ConverseStream:
    """One answer's events, read on first iteration; ``close`` hangs up from any thread."""

    def __init__(self, open_: Callable[[], tuple[Any, Any]], model_id: str) -> None:
        self._open = open_
        self._model_id = model_id
        self._lock = threading.Lock()
        self._http: Any = None
        self._events: Any = None
        self._closed = False

    def __iter__(self) -> Iterator[ModelEvent]:
        events, http = self._open()
        with self._lock:
            closed, self._events, self._http = self._closed, events, http
        try:
            if not closed:
                yield from self._read(events)
        finally:
            with contextlib.suppress(Exception):
                events.close()

    def close(self) -> None:
        """Stop reading: a read blocked on Bedrock ends now (with an error the caller,
        who asked for it, ignores), and Bedrock sees the hang-up."""
        with self._lock:
            self._closed = True
            http = self._http
        if http is None:
            return
        # Closing a socket does not wake a thread blocked reading it; shutting it does.
        connection = getattr(getattr(http, "raw", None), "connection", None)
        sock = getattr(connection, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # already closed by Bedrock
                sock.shutdown(socket.SHUT_RDWR)

    def _read(self, events: Any) -> Iterator[ModelEvent]:
        reason: str | None = None
        usage: dict[str, int] = {}
        try:
            for event in events:
                delta = event.get("contentBlockDelta")
                if delta is not None:
                    text = (delta.get("delta") or {}).get("text")
                    if text:
                        yield TextDelta(text)
                elif "messageStop" in event:
                    reason = _finish_reason(event["messageStop"].get("stopReason"))
                elif "metadata" in event:
                    usage = _usage(event["metadata"].get("usage"))
        except ClientError as err:  # an exception event in the stream
            raise _translated(err) from None
        except (BotoCoreError, TransportError, OSError, ValueError) as err:
            raise ModelUnavailable(f"Bedrock stream broke: {type(err).__name__}") from None
        if reason is None:
            raise ModelUnavailable("Bedrock stream ended without a stop reason")
        yield Finished(reason=reason, model=self._model_id, usage=usage, provider="bedrock")


def converse_request(
    prompt: Sequence[PromptMessage], *, model_id: str, max_tokens: int, temperature: float
) -> dict[str, Any]:
    """ConverseStream's arguments for ``prompt``: ``system`` messages become system
    blocks; the rest become messages whose roles alternate, starting with a user's
    (consecutive messages of one role are joined with a blank line; assistant messages
    before the first user message are dropped; empty ones too, Bedrock refuses them).
    Raises ``ValueError`` when no user message is left."""
    system = [{"text": m.content} for m in prompt if m.role == "system" and m.content.strip()]
    messages: list[dict[str, Any]] = []
    for message in prompt:
        if message.role not in ("user", "assistant") or not message.content.strip():
            continue
        if not messages and message.role != "user":
            continue
        if messages and messages[-1]["role"] == message.role:
            last = messages[-1]["content"][0]
            last["text"] = f"{last['text']}\n\n{message.content}"
        else:
            messages.append({"role": message.role, "content": [{"text": message.content}]})
    if not messages:
        raise ValueError("the prompt has no user message for Bedrock")
    request: dict[str, Any] = {
        "modelId": model_id,
        "messages": messages,
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature},
    }
    if system:
        request["system"] = system
    return request


def _finish_reason(stop_reason: Any) -> str:
    reason = _FINISH.get(str(stop_reason))
    if reason is None:  # tool_use (we offer no tools), malformed output, or one not known
        raise ModelUnavailable(f"Bedrock stopped with {stop_reason!r}")
    return reason


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    names = {
        "inputTokens": "promptTokens",
        "outputTokens": "completionTokens",
        "totalTokens": "totalTokens",
    }
    return {names[k]: int(v) for k, v in raw.items() if k in names and isinstance(v, int)}


def _translated(err: ClientError) -> Exception:
    """Bedrock's error as ours. A stream's exception events name the same exceptions
    with a lowercase first letter (``throttlingException``)."""
    code = str(err.response.get("Error", {}).get("Code", ""))
    name = code[:1].upper() + code[1:]
    public = _NOT_CONFIGURED.get(name)
    if public is not None:
        return ModelNotConfigured(f"Bedrock answered {name}", public=public)
    # Throttling, ModelStreamError, ServiceUnavailable, InternalServer, ModelTimeout,
    # ModelNotReady, ModelError, and any other: an outage of the provider.
    return ModelUnavailable(f"Bedrock answered {name or 'an error'}")
