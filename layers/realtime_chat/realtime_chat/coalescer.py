"""Coalescing model tokens into chunks: sans-I/O, the caller supplies the time.

The first token goes out at once (the user sees the answer start); later tokens
are gathered and released when ``interval`` has passed since the last release or
``max_chars`` have gathered. ``due`` lets a timer release gathered text when the
model pauses, so no text waits for the next token. Posting once per token would cost hundreds of
``@connections`` calls per answer and draw 429s from API Gateway.

100 ms is ten updates a second, as smooth as reading goes; every post is a billed
API Gateway message, the largest term of the bill at scale (docs/scaling.md), so a
shorter interval costs in proportion.

With ``max_interval`` above ``interval``, gathering adapts: after each release the
interval grows by ``growth`` up to ``max_interval`` (e.g. 100 ms rising to 400 ms),
so a long answer costs fewer posts while its start stays as quick. Off by default:
the scale model (``benchmarks/scale_model.py``) predicts posts at a fixed interval.
"""

from __future__ import annotations

__all__ = ["Coalescer"]


class Coalescer:
    def __init__(
        self,
        *,
        interval: float = 0.1,
        max_chars: int = 2000,
        max_interval: float | None = None,
        growth: float = 1.5,
    ) -> None:
        if max_interval is not None and max_interval < interval:
            raise ValueError("max_interval must be at least interval")
        if growth < 1:
            raise ValueError("growth must be at least 1")
        self._interval = interval
        self._max_interval = interval if max_interval is None else max_interval
        self._growth = growth
        self._current = interval  # the gathering interval now
        self._max_chars = max_chars
        self._buffer: list[str] = []
        self._size = 0
        self._last_release: float | None = None

    def feed(self, text: str, now: float) -> str | None:
        """Add a token; returns the text to send now, or None to keep gathering."""
        if not text:
            return None
        self._buffer.append(text)
        self._size += len(text)
        due = (
            self._last_release is None
            or now - self._last_release >= self._current
            or self._size >= self._max_chars
        )
        return self._release(now) if due else None

    def due(self, now: float) -> str | None:
        """Gathered text whose interval has passed (for a timer), or None."""
        if self._buffer and (
            self._last_release is None or now - self._last_release >= self._current
        ):
            return self._release(now)
        return None

    @property
    def interval(self) -> float:
        """The shortest gathering interval: how often a timer should call ``due``."""
        return self._interval

    def flush(self, now: float) -> str | None:
        """Whatever is still gathered (at the end of the stream), or None."""
        return self._release(now) if self._buffer else None

    def _release(self, now: float) -> str:
        text = "".join(self._buffer)
        self._buffer.clear()
        self._size = 0
        if self._last_release is not None:  # the first release is not a gathering
            self._current = min(self._current * self._growth, self._max_interval)
        self._last_release = now
        return text
