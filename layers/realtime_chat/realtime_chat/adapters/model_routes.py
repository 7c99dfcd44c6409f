"""Failover between AI routes (a provider and its model), as one ``LanguageModel``.

Routes are tried in order. A route that fails before its first token (unreachable,
timing out, throttling, 5xx: ``ModelUnavailable``) passes the answer to the next route
at once; once a token has been streamed there is no switch, the failure ends the
answer. A route that keeps failing is skipped while its circuit breaker cools down;
when every route is cooling down, all are tried all the same. Each failure is logged
with the route's name and counted as ``ModelRouteFailed`` with a ``route`` dimension
(the provider). A configuration refusal or a rejected key is not an outage: it ends
the answer where it happened, with no failover.

The reply path reads a ``RoutedStream`` as any model's stream: ``close()`` from
another thread hangs up on the route being read.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from realtime_chat.breaker import CircuitBreaker
from realtime_chat.domain import Finished, ModelEvent, PromptMessage
from realtime_chat.errors import ModelUnavailable
from realtime_chat.model_options import ModelOption
from realtime_chat.observability import count, logger
from realtime_chat.ports import Clock, LanguageModel

__all__ = ["ModelRoute", "RoutedModel", "RoutedStream"]

FAILURE_METRIC = "ModelRouteFailed"


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """A provider (``bedrock``, ``openai``), its model, and the adapter that asks it."""

    provider: str
    model: str
    language_model: LanguageModel

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"


class RoutedModel:
    """Answers through the first route that starts answering."""

    def __init__(
        self,
        routes: Sequence[ModelRoute],
        *,
        breaker: CircuitBreaker,
        clock: Clock,
        choosable: Sequence[ModelRoute] = (),
    ) -> None:
        """``choosable``: routes of allow-listed models that ``routes`` lacks."""
        if not routes:
            raise ValueError("at least one AI route is needed")
        self._routes = tuple(routes)
        self._by_name = {r.name: r for r in (*choosable, *routes)}
        self._breaker = breaker
        self._clock = clock
        self._lock = threading.Lock()  # answers of one container may overlap

    def stream(
        self,
        prompt: Sequence[PromptMessage],
        *,
        api_key: str,
        choice: ModelOption | None = None,
    ) -> RoutedStream:
        """``choice``: a conversation's allow-listed model, whose route goes first."""
        return RoutedStream(self, prompt, api_key, choice)

    def candidates(self, choice: ModelOption | None = None) -> tuple[ModelRoute, ...]:
        """The routes to try now, in order: the chosen model's route first (when there
        is one), then the configured ones; those not cooling down, or all if none is."""
        routes = self._routes
        chosen = self._by_name.get(choice.route) if choice else None
        if chosen is not None:
            routes = (chosen, *(r for r in routes if r.name != chosen.name))
        now = self._clock()
        with self._lock:
            healthy = tuple(r for r in routes if self._breaker.allows(r.name, now))
        return healthy or routes

    def route_failed(
        self, route: ModelRoute, err: ModelUnavailable, *, next_route: str | None
    ) -> None:
        """Count, log and remember a failure of ``route`` (``next_route``: where the
        turn goes now, if anywhere)."""
        with self._lock:
            opened = self._breaker.failed(route.name, self._clock())
        logger.warning(
            "AI route failed",
            extra={
                "route": route.name,
                "reason": str(err),
                "next_route": next_route,
                "cooling_down": opened,
            },
        )
        count(FAILURE_METRIC, dimension=("route", route.provider))

    def route_answered(self, route: ModelRoute) -> None:
        """``route`` finished an answer: its earlier failures no longer count."""
        with self._lock:
            self._breaker.succeeded(route.name)


class RoutedStream:
    """One answer's events from the first route that starts answering; ``close``
    hangs up from any thread."""

    def __init__(
        self,
        model: RoutedModel,
        prompt: Sequence[PromptMessage],
        api_key: str,
        choice: ModelOption | None = None,
    ) -> None:
        self._model = model
        self._prompt = prompt
        self._api_key = api_key
        self._choice = choice
        self._lock = threading.Lock()
        self._current: Any = None
        self._closed = False

    def __iter__(self) -> Iterator[ModelEvent]:
        choice = self._choice
        routes = self._model.candidates(choice)
        for index, route in enumerate(routes):
            # The chosen route with the chosen model's settings (its token cap).
            mine = choice if choice is not None and route.name == choice.route else None
            events = route.language_model.stream(self._prompt, api_key=self._api_key, choice=mine)
            with self._lock:
                if self._closed:
                    return
                self._current = events
            following = routes[index + 1].name if index + 1 < len(routes) else None
            started = False
            try:
                for event in events:
                    if isinstance(event, Finished):
                        self._model.route_answered(route)
                        yield replace(
                            event,
                            model=event.model or route.model,
                            provider=event.provider or route.provider,
                        )
                        return
                    started = True
                    yield event
            except ModelUnavailable as err:
                if self._closed:
                    raise  # our own hang-up: not the route's failure
                switch = not started and following is not None
                self._model.route_failed(route, err, next_route=following if switch else None)
                if not switch:
                    raise
            finally:
                _close(events)
            if started:  # the route ended without a finish: its adapter says how
                return

    def close(self) -> None:
        """Stop reading: the route being read hangs up, and no further route is asked."""
        with self._lock:
            self._closed = True
            current = self._current
        _close(current)


def _close(events: Any) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()
