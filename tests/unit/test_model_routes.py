"""Failover between AI routes: before the first token only, with a breaker per route."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence

import pytest

from realtime_chat.adapters.model_routes import ModelRoute, RoutedModel
from realtime_chat.breaker import CircuitBreaker
from realtime_chat.domain import Finished, ModelEvent, PromptMessage, TextDelta
from realtime_chat.errors import ModelNotConfigured, ModelUnavailable
from realtime_chat.model_options import ModelOption

PROMPT = [PromptMessage("user", "hi")]


class Scripted:
    """A provider that answers each request with the next script: a list of events,
    where an exception is raised at its place."""

    def __init__(self, *scripts: list[ModelEvent | Exception]) -> None:
        self.scripts = list(scripts)
        self.asked = 0
        self.choices: list[ModelOption | None] = []

    def stream(
        self, prompt: Sequence[PromptMessage], *, api_key: str, choice: ModelOption | None = None
    ) -> Iterator[ModelEvent]:
        self.asked += 1
        self.choices.append(choice)
        script = self.scripts.pop(0) if self.scripts else ANSWER
        return self._play(script)

    @staticmethod
    def _play(script: list[ModelEvent | Exception]) -> Iterator[ModelEvent]:
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item


ANSWER: list[ModelEvent | Exception] = [TextDelta("ok"), Finished("stop", "")]
DOWN: list[ModelEvent | Exception] = [ModelUnavailable("503")]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _routed(first: Scripted, second: Scripted, clock: Clock | None = None) -> RoutedModel:
    routes = [
        ModelRoute("bedrock", "claude", first),
        ModelRoute("openai", "gpt", second),
    ]
    return RoutedModel(routes, breaker=CircuitBreaker(failures=2), clock=clock or Clock())


def _metrics(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if "ModelRouteFailed" in line]


def test_the_first_route_answers_and_is_named_with_the_answer() -> None:
    bedrock, openai = Scripted(ANSWER), Scripted()
    events = list(_routed(bedrock, openai).stream(PROMPT, api_key="k"))
    assert events == [TextDelta("ok"), Finished("stop", "claude", provider="bedrock")]
    assert openai.asked == 0


def test_a_route_down_before_its_first_token_passes_the_turn_on_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN Bedrock throttling before any text
    bedrock, openai = Scripted(DOWN), Scripted(ANSWER)
    # WHEN a turn is answered
    events = list(_routed(bedrock, openai).stream(PROMPT, api_key="k"))
    # THEN the next route answers it, and says so
    assert events == [TextDelta("ok"), Finished("stop", "gpt", provider="openai")]
    # AND the failure is counted with the failing provider as its route dimension
    (metric,) = _metrics(capsys.readouterr().out)
    assert metric["route"] == "bedrock"


def test_after_the_first_token_there_is_no_switch() -> None:
    bedrock = Scripted([TextDelta("half"), ModelUnavailable("broke")])
    openai = Scripted(ANSWER)
    seen: list[ModelEvent] = []
    with pytest.raises(ModelUnavailable):
        seen.extend(_routed(bedrock, openai).stream(PROMPT, api_key="k"))
    assert seen == [TextDelta("half")]
    assert openai.asked == 0


def test_the_last_route_down_ends_the_answer_as_unavailable() -> None:
    with pytest.raises(ModelUnavailable):
        list(_routed(Scripted(DOWN), Scripted(DOWN)).stream(PROMPT, api_key="k"))


def test_a_configuration_refusal_does_not_fail_over() -> None:
    bedrock = Scripted([ModelNotConfigured("AccessDenied", public="enable it")])
    openai = Scripted(ANSWER)
    with pytest.raises(ModelNotConfigured):
        list(_routed(bedrock, openai).stream(PROMPT, api_key="k"))
    assert openai.asked == 0


def test_a_route_failing_repeatedly_is_skipped_while_it_cools_down() -> None:
    clock = Clock()
    bedrock, openai = Scripted(DOWN, DOWN), Scripted(ANSWER, ANSWER, ANSWER)
    model = _routed(bedrock, openai, clock)
    # GIVEN two failures in the minute (the breaker's threshold here)
    list(model.stream(PROMPT, api_key="k"))
    clock.now = 5
    list(model.stream(PROMPT, api_key="k"))
    # WHEN the next turn comes during the cool-down THEN Bedrock is not asked
    clock.now = 10
    events = list(model.stream(PROMPT, api_key="k"))
    assert bedrock.asked == 2
    assert isinstance(events[-1], Finished) and events[-1].provider == "openai"
    # AND after the cool-down the first route is tried first again
    clock.now = 40
    events = list(model.stream(PROMPT, api_key="k"))
    assert bedrock.asked == 3
    assert isinstance(events[-1], Finished) and events[-1].provider == "bedrock"


def test_when_every_route_cools_down_all_are_tried_anyway() -> None:
    clock = Clock()
    bedrock, openai = Scripted(DOWN, DOWN), Scripted(DOWN, DOWN, ANSWER)
    model = _routed(bedrock, openai, clock)
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            list(model.stream(PROMPT, api_key="k"))
    events = list(model.stream(PROMPT, api_key="k"))
    assert isinstance(events[-1], Finished) and bedrock.asked == 3


class Blocking:
    """A provider whose stream blocks after one token until closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def stream(
        self, prompt: Sequence[PromptMessage], *, api_key: str, choice: ModelOption | None = None
    ) -> Blocking:
        return self

    def __iter__(self) -> Iterator[ModelEvent]:
        yield TextDelta("one")
        self.closed.wait(5)
        raise ModelUnavailable("hung up")

    def close(self) -> None:
        self.closed.set()


def test_close_from_another_thread_hangs_up_the_route_being_read_and_asks_no_other() -> None:
    blocking, openai = Blocking(), Scripted(ANSWER)
    routes = [ModelRoute("bedrock", "claude", blocking), ModelRoute("openai", "gpt", openai)]
    stream = RoutedModel(routes, breaker=CircuitBreaker(), clock=Clock()).stream(
        PROMPT, api_key="k"
    )
    events = iter(stream)
    assert next(events) == TextDelta("one")
    threading.Timer(0.05, stream.close).start()
    with pytest.raises(ModelUnavailable):
        next(events)
    assert blocking.closed.is_set() and openai.asked == 0


def test_a_chosen_model_answers_first_with_its_settings_and_the_routes_fail_over_after_it() -> None:
    # GIVEN two configured routes and an allow-listed model routed elsewhere, down
    deep = ModelOption("deep", "Deep", "openai", "deep-1", max_tokens=64)
    bedrock, openai, chosen = Scripted(ANSWER), Scripted(ANSWER), Scripted(DOWN)
    routed = RoutedModel(
        [ModelRoute("bedrock", "claude", bedrock), ModelRoute("openai", "gpt", openai)],
        breaker=CircuitBreaker(failures=2),
        clock=Clock(),
        choosable=[ModelRoute("openai", "deep-1", chosen)],
    )
    # WHEN a conversation that chose it is answered
    events = list(routed.stream(PROMPT, api_key="k", choice=deep))
    # THEN its route was asked first, with the model's own settings, then the first
    # configured route answered (without them), and said so
    assert chosen.choices == [deep] and bedrock.choices == [None] and openai.asked == 0
    assert events[-1] == Finished("stop", "claude", provider="bedrock")


def test_a_chosen_model_on_a_configured_route_moves_that_route_first() -> None:
    bedrock, openai = Scripted(ANSWER), Scripted(ANSWER)
    gpt = ModelOption("gpt", "GPT", "openai", "gpt")
    events = list(_routed(bedrock, openai).stream(PROMPT, api_key="k", choice=gpt))
    assert events[-1] == Finished("stop", "gpt", provider="openai")
    assert (bedrock.asked, openai.choices) == (0, [gpt])
