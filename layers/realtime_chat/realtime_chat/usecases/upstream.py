"""The model's answer, read on a thread of its own for a reply: the API key (read
ahead, refreshed once if the provider refuses it), the provider's stream, and a
``close`` that hangs up from any thread. What it reads goes into a queue the reply's
driver (:mod:`realtime_chat.usecases.reply`) takes from."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from realtime_chat.domain import Finished, ModelEvent
from realtime_chat.errors import (
    AiNotConfigured,
    ChatError,
    ErrorCode,
    ModelNotConfigured,
    ModelRejectedKey,
    ModelUnavailable,
    SecretUnavailable,
)
from realtime_chat.observability import logger
from realtime_chat.ports import ApiKeySource, Clock

__all__ = ["KeyAhead", "Upstream"]


class Upstream:
    """The model's stream, read on a thread of its own into ``events``: text deltas,
    one ``Finished``, or the ``ChatError`` the client is told. ``close`` hangs up from
    any thread; what the read raises after that is ours, not the provider's."""

    def __init__(self, clock: Clock, request_id: str) -> None:
        self._request_id = request_id
        self.events: queue.SimpleQueue[ModelEvent | ChatError] = queue.SimpleQueue()
        self.first_token_seconds: float | None = None
        # The model was asked and answered something (a token, or its end): from then
        # on the turn costs tokens; before (a refused request, a stop, no key) nothing.
        self.answered = False
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._current: Any = None
        self._asked_at: float | None = None
        self._thread: threading.Thread | None = None
        self._deltas = 0

    def start(self, start: Callable[[str], Iterable[ModelEvent]], keys: ApiKeySource) -> None:
        self._thread = threading.Thread(
            target=self._read, args=(start, keys), name="reply-model", daemon=True
        )
        self._thread.start()

    def first_delta(self, now: float) -> None:
        if self.first_token_seconds is None and self._asked_at is not None:
            self.first_token_seconds = now - self._asked_at

    def close(self) -> None:
        with self._lock:
            self._closed = True
            current = self._current
        close = getattr(current, "close", None)
        if close is not None:
            # A generator being read cannot be closed from another thread (ValueError):
            # it stops at its next event instead.
            with contextlib.suppress(Exception):
                close()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _read(self, start: Callable[[str], Iterable[ModelEvent]], keys: ApiKeySource) -> None:
        try:
            self.events.put(self._answer(start, keys))
        except ChatError as err:
            if not self._closed:
                self.events.put(err)
        except Exception:
            if not self._closed:
                logger.exception("reply failed", extra={"request_id": self._request_id})
                error = ChatError.internal("The reply failed on our side.", self._request_id)
                self.events.put(error)

    def _answer(self, start: Callable[[str], Iterable[ModelEvent]], keys: ApiKeySource) -> Finished:
        key = _api_key(keys)
        self._asked_at = self._clock()
        try:
            return self._consume(start(key))
        except ModelRejectedKey:
            if self._deltas:
                raise _unavailable("The AI provider refused the key mid-answer.") from None
        # The key may have been rotated since we cached it: read the secret once more.
        fresh = _api_key(keys, refresh=True)
        if fresh != key:
            try:
                return self._consume(start(fresh))
            except ModelRejectedKey:
                pass
        raise ChatError(
            ErrorCode.AI_NOT_CONFIGURED,
            "The AI provider rejected the API key. An operator must put a valid key "
            "into the AI secret.",
        )

    def _consume(self, events: Iterable[ModelEvent]) -> Finished:
        with self._lock:
            self._current = events
            closed = self._closed
        try:
            if closed:  # stopped before the model was asked: do not ask it
                return Finished("stopped", "")
            for event in events:
                self.answered = True
                if self._closed:
                    break  # a stop: no more tokens are read
                if isinstance(event, Finished):
                    return event
                self._deltas += 1
                self.events.put(event)
        except ModelUnavailable as err:
            # The reason may quote the provider: for the log only, never the client.
            logger.warning("model unavailable", extra={"reason": str(err), "chunks": self._deltas})
            raise _unavailable("The AI provider is unavailable right now.") from None
        except ModelNotConfigured as err:  # e.g. no access to the Bedrock model
            logger.error("AI model not configured", extra={"reason": str(err)})
            raise ChatError(ErrorCode.AI_NOT_CONFIGURED, err.public) from None
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        return Finished("stop", "")


class KeyAhead:
    """The key read in the background from the start of the reply: the first read
    answers (or fails) as ``keys`` would have; later ones, and refreshes, go to it."""

    def __init__(self, keys: ApiKeySource, executor: ThreadPoolExecutor) -> None:
        self._keys = keys
        self._first: Future[str] | None = executor.submit(keys.api_key)

    def api_key(self, *, refresh: bool = False) -> str:
        first, self._first = self._first, None
        if first is not None and not refresh:
            return first.result()
        return self._keys.api_key(refresh=refresh)


def _api_key(keys: ApiKeySource, *, refresh: bool = False) -> str:
    """The key, or the client's error: configuration (AI_NOT_CONFIGURED, what to do, no
    resource names) apart from an outage of Secrets Manager (AI_UNAVAILABLE, retry)."""
    try:
        return keys.api_key(refresh=refresh)
    except AiNotConfigured as err:
        logger.error("AI not configured", extra={"reason": str(err)})
        raise ChatError(ErrorCode.AI_NOT_CONFIGURED, err.public) from None
    except SecretUnavailable as err:
        logger.warning("AI secret unavailable", extra={"reason": str(err)})
        raise _unavailable("The AI key could not be read right now.") from None


def _unavailable(message: str) -> ChatError:
    return ChatError(ErrorCode.AI_UNAVAILABLE, message + " Please try again.", retryable=True)
