"""The local stack's servers run on uvloop's loop where it is installed."""

from __future__ import annotations

import asyncio

import pytest

from local_stack import event_loop


def test_a_coroutine_runs_to_its_result_on_uvloops_loop() -> None:
    pytest.importorskip("uvloop")  # not on Windows: asyncio's own loop runs it there

    async def which_loop() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    assert event_loop.run(which_loop()).startswith("uvloop")
