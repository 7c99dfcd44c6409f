"""The Lambda-like runtime of the local stack: each function scales out on demand,
serves waiting callers first come, first served, and retires idle workers."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from local_stack.lambda_runtime.workers import FunctionSpec, Invocation, WorkerPool

HANDLER = """
import os, time

def handler(event, context):
    started = time.time()
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError(event["fail"])
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
    # WHEN 6 callers invoke it at once, each event taking a while: longer than five
    # forks take on a busy CI (at 1 s the warm worker once came free first, and went
    # to the caller still waiting, as it should)
    results = _invoke_all(pool, [{"sleep": 2.5}] * 6)
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


STREAMER = """
import os, threading, time

def niceness():
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

def handler(event, context):
    seen = {"start": niceness()}
    def stream():
        seen["helper_start"] = niceness()
        time.sleep(event["seconds"])
        seen["helper_later"] = niceness()
    helper = threading.Thread(target=stream)
    helper.start()
    helper.join()
    seen["later"] = niceness()
    late = threading.Thread(target=lambda: seen.update(started_later=niceness()))
    late.start()
    late.join()
    if event.get("fail"):
        raise ValueError(event["fail"])
    return seen
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_a_lane_that_demotes_late_runs_each_invocation_at_full_priority_first(
    spec: FunctionSpec,
) -> None:
    # GIVEN a lane niced by 10 once an invocation has run for 0.5 s (room for a busy CI)
    (spec.code_dir / "app.py").write_text(STREAMER)
    pool = WorkerPool(replace(spec, nice=10, nice_after=0.5), max_workers=1)
    try:
        ours = os.nice(0)
        nicer = min(19, ours + 10)
        # WHEN an invocation runs past that, starting a thread of its own
        first = pool.invoke({"seconds": 1.2}).value
        # THEN it started at our priority and, after, it and its thread run nicer,
        # as does a thread it starts later
        assert (first["start"], first["helper_start"]) == (ours, ours)
        assert (first["helper_later"], first["later"], first["started_later"]) == (nicer,) * 3
        # AND the worker's next invocation, a short one, runs at our priority throughout
        second = pool.invoke({"seconds": 0.0}).value
        assert set(second.values()) == {ours}
        # AND an invocation's error still reaches the caller as Lambda reports it
        failed = pool.invoke({"seconds": 0.0, "fail": "model went away"})
        assert (failed.error_type, failed.error) == ("ValueError", "model went away")
    finally:
        pool.close()


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


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that counts what is handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=8)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def _on_a_loop(pool: WorkerPool, *events: dict[str, Any]) -> tuple[list[Invocation], int]:
    """Invoke from an event loop, all at once; the outcomes and how many went to threads."""
    executor = CountingExecutor()

    async def run() -> list[Invocation]:
        return list(await asyncio.gather(*(pool.invoke_async(e, executor) for e in events)))

    try:
        return asyncio.run(run()), executor.submitted
    finally:
        executor.shutdown()


def test_from_an_event_loop_an_idle_worker_answers_without_a_thread(pool_of: Any) -> None:
    # GIVEN a warm function
    pool = pool_of()
    pool.warm()
    # WHEN an event loop invokes it, THEN the outcome comes back with no thread used
    (ok,), threads = _on_a_loop(pool, {"n": 1})
    assert (ok.value["n"], threads) == (1, 0)
    # AND a handler's exception is its outcome, as with invoke()
    (failed,), threads = _on_a_loop(pool, {"fail": "boom"})
    assert (failed.error_type, failed.error, threads) == ("ValueError", "boom", 0)


def test_from_an_event_loop_large_events_and_busy_functions_go_through_threads(
    pool_of: Any,
) -> None:
    pool = pool_of(max_workers=4)
    pool.warm()
    # WHEN an event too large to write at once arrives, THEN a thread sends it
    (large,), threads = _on_a_loop(pool, {"n": 2, "pad": "x" * 40_000})
    assert (large.value["n"], threads) == (2, 1)
    # WHEN more events arrive at once than there are idle workers, THEN the rest wait
    # in threads for new workers, and every one is answered by a process of its own
    outcomes, threads = _on_a_loop(pool, *({"n": n, "sleep": 0.5} for n in range(4)))
    assert sorted(o.value["n"] for o in outcomes) == [0, 1, 2, 3]
    assert len({o.value["pid"] for o in outcomes}) == 4
    assert threads >= 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_from_an_event_loop_a_timed_out_worker_is_replaced(spec: FunctionSpec) -> None:
    # GIVEN a function with one worker and a 0.5 s timeout
    pool = WorkerPool(replace(spec, timeout=0.5), max_workers=1)
    try:
        (before,), _ = _on_a_loop(pool, {})
        # WHEN an invocation runs past the timeout
        (late,), _ = _on_a_loop(pool, {"sleep": 3})
        # THEN it fails as Lambda's does, its process is gone, and the next
        # invocation runs in a new one
        assert late.error_type == "TimeoutError"
        assert late.error == "Task timed out after 0.50 seconds"
        assert not _alive(before.value["pid"])
        (after,), _ = _on_a_loop(pool, {})
        assert after.value["pid"] != before.value["pid"]
    finally:
        pool.close()


def test_a_caller_that_gives_up_mid_invocation_does_not_get_the_worker_reused(
    spec: FunctionSpec,
) -> None:
    # GIVEN a function with one worker, busy with a slow event for a caller on a loop
    pool = WorkerPool(spec, max_workers=1)
    executor = CountingExecutor()

    async def give_up() -> int:
        first = await pool.invoke_async({}, executor)
        slow = asyncio.ensure_future(pool.invoke_async({"sleep": 5}, executor))
        await asyncio.sleep(0.3)
        # WHEN that caller is cancelled (the stack is stopping, say)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        pid: int = first.value["pid"]
        return pid

    try:
        pid = asyncio.run(give_up())
        # THEN the worker, whose answer nobody will read, is stopped, not handed to
        # the next caller with the old answer still in its pipe
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)
        fresh = pool.invoke({"n": 9})
        assert fresh.value["n"] == 9
        assert fresh.value["pid"] != pid
    finally:
        executor.shutdown()
        pool.close()
