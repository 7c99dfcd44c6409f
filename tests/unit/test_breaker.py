"""The per-route circuit breaker, with time passed in."""

from __future__ import annotations

import pytest

from realtime_chat.breaker import CircuitBreaker


def test_a_route_that_failed_three_times_in_a_minute_cools_down_then_is_tried_again() -> None:
    breaker = CircuitBreaker(failures=3, window=60, cool_down=30)
    # GIVEN two failures: still tried
    assert not breaker.failed("bedrock:m", 0)
    assert not breaker.failed("bedrock:m", 10)
    assert breaker.allows("bedrock:m", 11)
    # WHEN a third comes within the minute THEN it opens, for the cool-down only
    assert breaker.failed("bedrock:m", 20)
    assert not breaker.allows("bedrock:m", 49.9)
    assert breaker.allows("bedrock:m", 50)


def test_failures_spread_over_more_than_the_window_do_not_open_it() -> None:
    breaker = CircuitBreaker(failures=3, window=60, cool_down=30)
    assert not breaker.failed("r", 0)
    assert not breaker.failed("r", 40)
    assert not breaker.failed("r", 61)  # the first has left the window
    assert breaker.allows("r", 62)


def test_a_success_forgets_the_failures() -> None:
    breaker = CircuitBreaker(failures=2, window=60, cool_down=30)
    breaker.failed("r", 0)
    breaker.succeeded("r")
    assert not breaker.failed("r", 1)
    assert breaker.allows("r", 1)


def test_routes_are_counted_apart() -> None:
    breaker = CircuitBreaker(failures=1, window=60, cool_down=30)
    assert breaker.failed("bedrock:a", 0)
    assert not breaker.allows("bedrock:a", 1)
    assert breaker.allows("openai:b", 1)


def test_a_failure_while_open_does_not_extend_the_cool_down() -> None:
    breaker = CircuitBreaker(failures=1, window=60, cool_down=30)
    assert breaker.failed("r", 0)
    assert not breaker.failed("r", 10)  # tried anyway (every route was cooling down)
    assert breaker.allows("r", 30)


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failures"):
        CircuitBreaker(failures=0)
