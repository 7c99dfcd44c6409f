"""The Lambda-like runtime of the local stack: each function scales out on demand,
serves waiting callers first come, first served, and retires idle workers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from local_stack.lambda_runtime.workers import FunctionSpec, WorkerPool

HANDLER = """
import os, time

def handler(event, context):
    started = time.time()
    time.sleep(event.get("sleep", 0))
    return {
        "pid": os.getpid(), "n": event.get("n"), "started": started, "ended": time.time(),
        "nice": os.nice(0),
    }
"""


@pytest.fixture
def spec(tmp_path: Path) -> FunctionSpec:
    (tmp_path / "app.py").write_text(HANDLER)
    return FunctionSpec(
        logical_id="Sleeper",
        name="sleeper",
        code_dir=tmp_path,
        handler="app.handler",
        timeout=10,
        memory=128,
        environment={},
    )


@pytest.fixture
def pool_of(spec: FunctionSpec) -> Iterator[Any]:
    pools: list[WorkerPool] = []

    def make(**options: Any) -> WorkerPool:
        pool = WorkerPool(spec, **options)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def _invoke_all(pool: WorkerPool, events: list[dict[str, Any]], gap: float = 0.0) -> list[Any]:
    results: list[Any] = [None] * len(events)

    def call(i: int) -> None:
        results[i] = pool.invoke(events[i]).value

    threads = []
    for i in range(len(events)):
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
        time.sleep(gap)
    for thread in threads:
        thread.join(30)
    return results


def test_concurrent_invokes_scale_out_to_workers_of_their_own(pool_of: Any) -> None:
    # GIVEN a function with room for 8 workers, one warm
    pool = pool_of(max_workers=8)
    pool.warm()
    # WHEN 6 callers invoke it at once, each event taking a while
    results = _invoke_all(pool, [{"sleep": 1.0}] * 6)
    # THEN each ran in its own process, all at the same time
    assert len({r["pid"] for r in results}) == 6
    assert max(r["started"] for r in results) < min(r["ended"] for r in results)
    assert 6 <= pool.size <= 8  # the six, and at most a warm spare or two


def test_past_the_limit_callers_are_served_in_arrival_order(pool_of: Any) -> None:
    # GIVEN a function limited to one worker
    pool = pool_of(max_workers=1)
    pool.warm()
    # WHEN five callers arrive one after another while it is busy
    results = _invoke_all(pool, [{"sleep": 0.3, "n": n} for n in range(5)], gap=0.05)
    # THEN they are served first come, first served, by the one worker
    assert [r["n"] for r in sorted(results, key=lambda r: r["started"])] == [0, 1, 2, 3, 4]
    assert len({r["pid"] for r in results}) == 1


def test_idle_workers_are_retired_but_one_stays_warm(pool_of: Any) -> None:
    pool = pool_of(max_workers=8, idle_seconds=0.5)
    pool.warm()
    _invoke_all(pool, [{"sleep": 0.5}] * 4)
    assert pool.size >= 4
    deadline = time.monotonic() + 10
    while pool.size > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pool.size == 1
    assert pool.invoke({"n": 7}).value["n"] == 7


def test_a_lower_priority_lane_runs_its_workers_nicer(spec: FunctionSpec) -> None:
    # GIVEN the same function as an interactive pool and as a lane niced by 10
    interactive = WorkerPool(spec)
    background = WorkerPool(replace(spec, nice=10))
    try:
        # WHEN each runs an event
        ours = os.nice(0)
        quick = interactive.invoke({}).value
        slow = background.invoke({}).value
        # THEN the lane's worker yields the CPU to the interactive one's
        assert quick["nice"] == ours
        assert slow["nice"] == min(19, ours + 10)
    finally:
        interactive.close()
        background.close()


def test_an_init_error_fails_the_invocation_and_a_fix_is_picked_up(
    spec: FunctionSpec, pool_of: Any
) -> None:
    # GIVEN a function whose module fails at import
    app = spec.code_dir / "app.py"
    app.write_text("raise RuntimeError('missing setting')\n" + HANDLER)
    pool = pool_of(max_workers=2)
    # WHEN it is invoked
    failed = pool.invoke({"n": 1})
    # THEN the invocation fails at once with the init error, as Lambda's does
    assert failed.error_type == "Runtime.InitError (RuntimeError)"
    assert failed.error == "missing setting"
    # AND once the code is fixed, the next invocation initializes it afresh
    app.write_text(HANDLER)
    assert pool.invoke({"n": 2}).value["n"] == 2


SNAPSHOT_HANDLER = """
import os, random, time

with open(os.environ["INIT_LOG"], "a") as log:
    log.write(f"{os.getpid()}\\n")

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "random": random.random()}
"""


def test_new_workers_are_forks_of_one_init_with_state_of_their_own(
    spec: FunctionSpec, tmp_path: Path
) -> None:
    # GIVEN a function whose init is recorded, and which draws random numbers
    (spec.code_dir / "app.py").write_text(SNAPSHOT_HANDLER)
    init_log = tmp_path / "init.log"
    pool = WorkerPool(replace(spec, environment={"INIT_LOG": str(init_log)}), max_workers=4)
    try:
        # WHEN four callers need four workers at once
        results = _invoke_all(pool, [{"sleep": 0.5}] * 4)
        # THEN the function was initialized once, and each worker is its own process
        # with its own random state (as after a SnapStart restore)
        assert len(init_log.read_text().split()) == 1
        assert len({r["pid"] for r in results}) == 4
        assert len({r["random"] for r in results}) == 4
    finally:
        pool.close()
