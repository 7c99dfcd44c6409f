"""Reading the model on its own thread: what reaches the reply's queue, and a hang-up
from the reply's thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from realtime_chat.domain import Finished, ModelEvent, PromptMessage, TextDelta
from realtime_chat.errors import ChatError, ModelNotConfigured, ModelUnavailable
from realtime_chat.usecases.upstream import Upstream


class Key:
    def api_key(self, *, refresh: bool = False) -> str:
        return "k"


def _drain(upstream: Upstream) -> list[object]:
    upstream.join(5)
    seen = []
    while not upstream.events.empty():
        seen.append(upstream.events.get())
    return seen


def test_deltas_then_the_finish_reach_the_queue_in_order() -> None:
    upstream = Upstream(lambda: 0.0, "req-1")
    upstream.start(lambda key: iter([TextDelta("a"), TextDelta("b"), Finished("stop", "m")]), Key())
    assert _drain(upstream) == [TextDelta("a"), TextDelta("b"), Finished("stop", "m")]


def test_a_provider_failure_becomes_ai_unavailable_without_the_providers_words() -> None:
    def breaks(key: str) -> Iterator[ModelEvent]:
        yield TextDelta("a")
        raise ModelUnavailable("provider error mid-stream: org-4242")

    upstream = Upstream(lambda: 0.0, "req-1")
    upstream.start(breaks, Key())
    delta, error = _drain(upstream)
    assert delta == TextDelta("a")
    assert isinstance(error, ChatError) and error.code.value == "AI_UNAVAILABLE"
    assert "org-4242" not in error.message


def test_a_model_refused_as_configured_is_not_configured_with_what_to_do() -> None:
    # GIVEN a provider that refuses the request as set up (Bedrock: no model access)
    def refuses(key: str) -> Iterator[ModelEvent]:
        raise ModelNotConfigured(
            "Bedrock answered AccessDeniedException for arn:aws:bedrock:x", public="Enable it."
        )
        yield TextDelta("never")

    upstream = Upstream(lambda: 0.0, "req-1")
    upstream.start(refuses, Key())
    (error,) = _drain(upstream)
    # THEN the client is told what an operator must do, and no resource name
    assert isinstance(error, ChatError) and error.code.value == "AI_NOT_CONFIGURED"
    assert error.message == "Enable it."


def test_a_read_that_breaks_after_the_hang_up_is_not_reported() -> None:
    hung_up = threading.Event()

    class Silent:
        def __iter__(self) -> Iterator[ModelEvent]:
            yield TextDelta("a")
            hung_up.wait(5)
            raise ModelUnavailable("connection closed")

        def close(self) -> None:
            hung_up.set()

    upstream = Upstream(lambda: 0.0, "req-1")
    upstream.start(lambda key: Silent(), Key())
    assert upstream.events.get(timeout=5) == TextDelta("a")
    # WHEN the reply hangs up from its own thread THEN the broken read says nothing
    upstream.close()
    assert _drain(upstream) == []


def test_a_stream_closed_before_the_model_is_asked_never_asks_it() -> None:
    asked: list[Sequence[PromptMessage]] = []
    gate = threading.Event()

    class SlowKey:
        def api_key(self, *, refresh: bool = False) -> str:
            gate.wait(5)
            return "k"

    def model(key: str) -> Iterator[ModelEvent]:
        asked.append([])
        yield Finished("stop", "m")

    upstream = Upstream(lambda: 0.0, "req-1")
    upstream.start(model, SlowKey())
    upstream.close()  # a stop, while the key is still being read
    gate.set()
    _drain(upstream)
    assert asked == []
