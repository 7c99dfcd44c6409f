"""Waiting for something to become true, with a bound that only catches a hang."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["HANG_SECONDS", "eventually", "eventually_async"]

T = TypeVar("T")

# Long enough for a loaded two-core CI to get there; a bound, never a figure.
HANG_SECONDS = 60.0


def eventually(check: Callable[[], T], *, what: str, timeout: float = HANG_SECONDS) -> T:
    """``check()``'s first truthy value, polled until ``timeout``; else AssertionError
    naming ``what``."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)
    return value


async def eventually_async(
    check: Callable[[], Awaitable[T]], *, what: str, timeout: float = HANG_SECONDS
) -> T:
    """``eventually`` for a check that awaits."""
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)
    return value
