"""A circuit breaker per AI route, without I/O: failures and time go in, whether to try
the route comes out.

A route that failed ``failures`` times within ``window`` seconds is skipped for
``cool_down`` seconds (it is *open*); after that one answer may try it again, and a
success forgets its failures. One breaker lives per container: it steers that
container's answers, nothing is shared.
"""

from __future__ import annotations

from collections import deque

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """Call :meth:`allows` before trying a route, then :meth:`failed` or :meth:`succeeded`."""

    def __init__(self, *, failures: int = 3, window: float = 60.0, cool_down: float = 30.0) -> None:
        if failures < 1 or window <= 0 or cool_down <= 0:
            raise ValueError("a circuit breaker needs failures >= 1 and positive durations")
        self._failures = failures
        self._window = window
        self._cool_down = cool_down
        self._recent: dict[str, deque[float]] = {}
        self._open_until: dict[str, float] = {}

    def allows(self, route: str, now: float) -> bool:
        """False while ``route`` cools down after failing too often."""
        return now >= self._open_until.get(route, 0.0)

    def failed(self, route: str, now: float) -> bool:
        """Count a failure of ``route`` at ``now``; True when it opens the breaker (the
        route is skipped from now until the cool-down ends)."""
        recent = self._recent.setdefault(route, deque())
        recent.append(now)
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        if len(recent) < self._failures or not self.allows(route, now):
            return False
        self._open_until[route] = now + self._cool_down
        recent.clear()
        return True

    def succeeded(self, route: str) -> None:
        """The route answered: its earlier failures no longer count."""
        self._recent.pop(route, None)
        self._open_until.pop(route, None)
