"""The Lambda-like runtime of the local stack: each function scales out on demand,
serves waiting callers first come, first served, retires idle workers, reports init
errors and timeouts as Lambda does, and forks its workers from one init."""

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
from tests.support.waiting import HANG_SECONDS, eventually

# ``meet``: wait (up to a hang's bound) until that many invocations have started, each
# in a directory of its own: proof they ran at the same time, without timing them.
HANDLER = """
import os, pathlib, time

def handler(event, context):
    started = time.time()
    if event.get("meet"):
        here = pathlib.Path(event["dir"])
        (here / str(os.getpid())).touch()
        deadline = time.monotonic() + event["hang"]
        while len(list(here.iterdir())) < event["meet"] and time.monotonic() < deadline:
            time.sleep(0.02)
        met = len(list(here.iterdir())) >= event["meet"]
    else:
        met = None
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError(event["fail"])
    return {"pid": os.getpid(), "n": event.get("n"), "started": started, "met": met}
"""


@pytest.fixture
def spec(tmp_path: Path) -> FunctionSpec:
    (tmp_path / "app.py").write_text(HANDLER)
    return FunctionSpec(
        logical_id="Sleeper",
        name="sleeper",
        code_dir=tmp_path,
        handler="app.handler",
        timeout=HANG_SECONDS,
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


def _meeting(tmp_path: Path, callers: int) -> list[dict[str, Any]]:
    """Events that each wait until all ``callers`` have started."""
    room = tmp_path / "room"
    room.mkdir()
    return [{"meet": callers, "dir": str(room), "hang": HANG_SECONDS}] * callers


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
        thread.join()
    return results


def test_concurrent_invokes_scale_out_to_workers_of_their_own(pool_of: Any, tmp_path: Path) -> None:
    # GIVEN a function with room for 8 workers, one warm
    pool = pool_of(max_workers=8)
    pool.warm()
    # WHEN 6 callers invoke it at once, each event waiting for the other five
    results = _invoke_all(pool, _meeting(tmp_path, 6))
    # THEN each ran in its own process, all at the same time
    assert len({r["pid"] for r in results}) == 6
    assert all(r["met"] for r in results)
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


def test_idle_workers_are_retired_but_one_stays_warm(pool_of: Any, tmp_path: Path) -> None:
    # GIVEN a function that scaled out to four workers
    pool = pool_of(max_workers=8, idle_seconds=0.5)
    pool.warm()
    _invoke_all(pool, _meeting(tmp_path, 4))
    assert pool.size >= 4
    # WHEN they sit idle, THEN all but one are retired, and that one still answers
    eventually(lambda: pool.size == 1, what="idle workers retired")
    assert pool.invoke({"n": 7}).value["n"] == 7


def test_a_handlers_exception_is_the_invocations_outcome(pool_of: Any) -> None:
    pool = pool_of()
    failed = pool.invoke({"fail": "model went away"})
    assert (failed.error_type, failed.error) == ("ValueError", "model went away")
    assert pool.invoke({"n": 1}).value["n"] == 1  # the worker carries on


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
import os, random
from app_meeting import handler as meet

with open(os.environ["INIT_LOG"], "a") as log:
    log.write(f"{os.getpid()}\\n")

def handler(event, context):
    return {**meet(event, context), "random": random.random()}
"""


def test_new_workers_are_forks_of_one_init_with_state_of_their_own(
    spec: FunctionSpec, tmp_path: Path
) -> None:
    # GIVEN a function whose init is recorded, and which draws random numbers
    (spec.code_dir / "app_meeting.py").write_text(HANDLER)
    (spec.code_dir / "app.py").write_text(SNAPSHOT_HANDLER)
    init_log = tmp_path / "init.log"
    pool = WorkerPool(replace(spec, environment={"INIT_LOG": str(init_log)}), max_workers=4)
    try:
        # WHEN four callers need four workers at once
        results = _invoke_all(pool, _meeting(tmp_path, 4))
        # THEN the function was initialized once, and each worker is its own process
        # with its own random state (as after a SnapStart restore)
        assert all(r["met"] for r in results)
        assert len(init_log.read_text().split()) == 1
        assert len({r["pid"] for r in results}) == 4
        assert len({r["random"] for r in results}) == 4
    finally:
        pool.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_timed_out_worker_is_stopped_and_replaced(spec: FunctionSpec) -> None:
    # GIVEN a function with one worker and a 0.5 s timeout
    pool = WorkerPool(replace(spec, timeout=0.5), max_workers=1)
    try:
        before = pool.invoke({}).value
        # WHEN an invocation runs past the timeout
        late = pool.invoke({"sleep": HANG_SECONDS})
        # THEN it fails as Lambda's does, its process is gone, and the next
        # invocation runs in a new one
        assert late.error_type == "TimeoutError"
        assert late.error == "Task timed out after 0.50 seconds"
        eventually(lambda: not _alive(before["pid"]), what="the timed-out worker stopped")
        after = pool.invoke({}).value
        assert after["pid"] != before["pid"]
    finally:
        pool.close()
