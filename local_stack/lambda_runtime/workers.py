"""Each Lambda function as a pool of warm worker processes, like Lambda's execution
environments: its own environment variables, its own module state, one event at a
time per process, a new process when all are busy, killed at the function timeout.
The function is initialized once, in a zygote process, and each worker is a fork of
it, as SnapStart restores a snapshot taken after init."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from multiprocessing import reduction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

__all__ = ["FunctionSpec", "Invocation", "WorkerPool"]

# A zygote starts in a fresh interpreter, as a Lambda cold start does; its workers
# are forks of it.
_SPAWN: Any = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    code_dir: Path
    handler: str  # "app.lambda_handler"
    timeout: float
    memory: int
    environment: dict[str, str]
    python_path: tuple[str, ...] = ()
    readable_logs: bool = False  # reformat its output (see log_view); else raw, as in AWS


@dataclass
class Invocation:
    """The outcome of one invoke: ``value`` on success, else ``error_type``/``error``."""

    value: Any = None
    error_type: str | None = None
    error: str | None = None
    duration: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    # The worker process's peak resident memory so far: Lambda's "Max Memory Used".
    max_memory_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_type is None


class _Context:
    """The Lambda context object handlers receive."""

    def __init__(self, spec: FunctionSpec, deadline: float) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = spec.memory
        self.invoked_function_arn = f"arn:aws:lambda:local:123456789012:function:{spec.name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _initialize(spec: FunctionSpec) -> tuple[Any, tuple[str, str] | None]:
    """Set the process up like a Lambda environment and run the function's init: its
    handler, or the init error as Lambda reports it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the stack's to handle
    os.environ.clear()
    os.environ.update(spec.environment)
    if spec.readable_logs:
        from local_stack.log_view import ReadableOutput

        sys.stdout = ReadableOutput(spec.logical_id, sys.stdout)
    sys.path[:0] = [str(spec.code_dir), *spec.python_path]
    module_name, _, function_name = spec.handler.rpartition(".")
    try:
        module = __import__(module_name)
        return getattr(module, function_name), None
    except Exception as err:
        traceback.print_exc()
        return None, (type(err).__name__, str(err))


def _handle_events(spec: FunctionSpec, handler: Any, conn: Connection) -> None:
    """A worker: one event at a time, until the stack closes its end."""
    conn.send(("ready", None))
    while True:
        try:
            event = conn.recv()
        except EOFError:
            return
        context = _Context(spec, time.time() + spec.timeout)
        try:
            value = handler(event, context)
            conn.send(("ok", value, _max_rss_mb()))
        except Exception as err:
            # An authorizer's "Unauthorized" is API Gateway's protocol for 401, not a
            # fault: the function already logged why, so no traceback for it.
            if str(err) != "Unauthorized":
                traceback.print_exc()
            conn.send(("error", (type(err).__name__, str(err)), _max_rss_mb()))


def _zygote(spec: FunctionSpec, control: Connection) -> None:
    """The function initialized once; each new worker is a fork of it, as Lambda's
    SnapStart restores a snapshot taken after init. Forking copies the module state
    (clients created, settings read) but not what a worker does afterwards, and
    ``random`` reseeds itself in every child."""
    handler, error = _initialize(spec)
    if error is not None:
        control.send(("init_error", error))
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
    control.send(("ready", None))
    while True:
        try:
            control.recv()  # a request for one more worker
        except EOFError:
            return
        ours, theirs = _SPAWN.Pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            control.close()
            ours.close()
            try:
                _handle_events(spec, handler, theirs)
            finally:
                os._exit(0)
        theirs.close()
        control.send(pid)
        reduction.send_handle(control, ours.fileno(), os.getppid())
        ours.close()


class _Forked:
    """A worker process forked by a zygote: known to us by its pid alone."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def is_alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)


class _Zygote:
    """Starts a function's workers by forking its initialized zygote process; the
    zygote itself starts (the one real cold start) with the first worker, and again
    after an init error, so that a fixed function is picked up by the next worker."""

    def __init__(self, spec: FunctionSpec) -> None:
        self._spec = spec
        self._lock = threading.Lock()
        self._control: Connection | None = None
        self._process: Any = None

    def spawn(self, timeout: float) -> tuple[str, Any]:
        """("ready", (connection, process)) or ("init_error", (type, message))."""
        with self._lock:
            for _attempt in range(2):  # a zygote that died is replaced once
                if self._control is None:
                    started = self._start(timeout)
                    if started[0] != "ready":
                        return started
                control = cast(Connection, self._control)
                try:
                    control.send("spawn")
                    if not control.poll(timeout):
                        raise EOFError
                    pid = control.recv()
                    fd = reduction.recv_handle(control)
                except (EOFError, OSError):
                    self._discard()
                    continue
                return "ready", (Connection(fd), _Forked(pid))
            return "init_error", ("Runtime.ExitError", "the function's process exited")

    def close(self) -> None:
        with self._lock:
            self._discard()

    def _start(self, timeout: float) -> tuple[str, Any]:
        self._control, child = _SPAWN.Pipe()
        self._process = _SPAWN.Process(
            target=_zygote, args=(self._spec, child), daemon=True, name=f"init:{self._spec.name}"
        )
        self._process.start()
        child.close()
        try:
            if not self._control.poll(timeout):
                outcome: tuple[str, Any] = (
                    "init_error",
                    ("InitTimeout", "function init timed out"),
                )
            else:
                outcome = self._control.recv()
        except (EOFError, OSError):  # stopped while starting (the stack is closing)
            outcome = ("init_error", ("Runtime.ExitError", "exited during init"))
        if outcome[0] != "ready":
            self._discard()
        return outcome

    def _discard(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            self._process.terminate()
            self._process.join(2)
            if self._process.is_alive():
                self._process.kill()
            self._process = None


class _Worker:
    def __init__(self, zygote: _Zygote) -> None:
        self._zygote = zygote
        self.conn: Any = None
        self.process: Any = None  # set once started
        self.init: tuple[str, Any] | None = None
        self._init_lock = threading.Lock()  # a spare warms while a caller may take it

    def ready(self, timeout: float) -> tuple[str, Any]:
        with self._init_lock:
            if self.init is None:
                state, detail = self._zygote.spawn(timeout)
                if state == "ready":
                    self.conn, self.process = detail
                    try:
                        self.init = self.conn.recv() if self.conn.poll(timeout) else None
                    except (EOFError, OSError):
                        self.init = None
                    if self.init is None:
                        self.init = ("init_error", ("Runtime.ExitError", "exited during init"))
                else:
                    self.init = (state, detail)
            return self.init

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM), without waiting."""
        if self.process is not None and self.process.is_alive():
            self.process.terminate()

    def stop(self) -> None:
        if self.process is None:
            return
        self.terminate()
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()


@dataclass
class _Ticket:
    """A caller waiting for a worker, served in arrival order."""

    ready: threading.Event = field(default_factory=threading.Event)
    worker: _Worker | None = None
    init_error: tuple[str, str] | None = None  # the init this caller waited for failed


def _max_rss_mb() -> float:
    """This process's peak resident memory (Linux reports kilobytes, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _died() -> Invocation:
    return Invocation(error_type="Runtime.ExitError", error="the worker process died")


def _outcome(state: str, detail: Any, started: float, memory: float) -> Invocation:
    elapsed = time.monotonic() - started
    if state == "ok":
        return Invocation(value=detail, duration=elapsed, max_memory_mb=memory)
    return Invocation(error_type=detail[0], error=detail[1], duration=elapsed, max_memory_mb=memory)


class _InitFailed(Exception):
    def __init__(self, detail: tuple[str, str]) -> None:
        super().__init__(f"{detail[0]}: {detail[1]}")
        self.detail = detail


class WorkerPool:
    """Invokes one function, scaling out like Lambda, within what this machine can do.

    A caller gets an idle worker when there is one. When all are busy, callers queue and
    are served first come, first served by whichever worker frees up first: one that
    finished an invocation, or one newly started. A caller still waiting after
    ``grace_seconds`` (a quick function would have freed a worker by then) starts a new
    worker, up to ``max_workers``; at most one start per CPU runs at a time (the first
    is the function's init, the rest are forks of it).
    One warm spare is started ahead of demand, and workers idle for ``idle_seconds``
    are retired. Blocking, so call it from a thread, never the event loop."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        max_workers: int = 32,
        idle_seconds: float = 300.0,
        grace_seconds: float = 0.05,
        concurrent_starts: int = os.cpu_count() or 2,
    ) -> None:
        self.spec = spec
        self._max = max_workers
        self._grace = grace_seconds
        self._idle_seconds = idle_seconds
        self._start_limit = max(1, concurrent_starts)
        self._idle: list[tuple[_Worker, float]] = []  # ready, with when it became idle
        self._all: list[_Worker] = []  # starting, busy or idle
        self._zygote = _Zygote(spec)
        self._starting = 0
        self._deferred = 0  # scale-outs asked for while the start limit was reached
        self._waiting: deque[_Ticket] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._reaper = threading.Thread(target=self._retire_idle, daemon=True)
        self._reaper.start()

    @property
    def size(self) -> int:
        """Workers alive now, starting, busy or idle."""
        with self._lock:
            return len(self._all)

    def warm(self) -> None:
        """Start one worker ahead of the first event (the cold start happens now). An
        init error is printed, and reported to each invocation until it is fixed."""
        with contextlib.suppress(_InitFailed):
            self._release(self._acquire())

    def invoke(self, event: dict[str, Any]) -> Invocation:
        started = time.monotonic()
        try:
            worker = self._acquire()
        except _InitFailed as failed:  # as Lambda answers when init fails
            error_type, message = failed.detail
            return Invocation(
                error_type=f"Runtime.InitError ({error_type})",
                error=message,
                duration=time.monotonic() - started,
            )
        try:
            worker.conn.send(event)
            if not worker.conn.poll(self.spec.timeout):
                self._discard(worker)
                return self._timed_out(started)
            state, detail, memory = worker.conn.recv()
        except (EOFError, OSError):
            self._discard(worker)
            return _died()
        self._release(worker)
        return _outcome(state, detail, started, memory)

    def _timed_out(self, started: float) -> Invocation:
        return Invocation(
            error_type="TimeoutError",
            error=f"Task timed out after {self.spec.timeout:.2f} seconds",
            duration=time.monotonic() - started,
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            waiting = list(self._waiting)
            self._waiting.clear()
        for ticket in waiting:
            ticket.ready.set()  # without a worker: the caller sees the shutdown
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.stop()
        self._zygote.close()

    def _take_idle_locked(self) -> _Worker | None:
        """An idle worker when one is free and no caller waits before us."""
        if self._closed or not self._idle or self._waiting:
            return None
        worker, _ = self._idle.pop()
        if not self._idle:
            self._scale_out()  # a warm spare for the next caller
        return worker

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the local stack is shutting down")
            worker = self._take_idle_locked()
            if worker is not None:
                return worker
            ticket = _Ticket()
            self._waiting.append(ticket)
            if not self._all:
                self._scale_out()  # nothing to wait for: the first cold start
        if not ticket.ready.wait(self._grace):
            with self._lock:
                if ticket.worker is None and not self._closed:
                    self._scale_out()
        ticket.ready.wait()
        if ticket.init_error is not None:
            raise _InitFailed(ticket.init_error)
        if ticket.worker is None:
            raise RuntimeError("the local stack is shutting down")
        return ticket.worker

    def _scale_out(self) -> None:
        """Start a worker in the background (lock held), or defer it while the machine
        is busy with as many cold starts as it has CPUs."""
        if self._closed or len(self._all) >= self._max:
            return
        if self._starting >= self._start_limit:
            self._deferred += 1
            return
        worker = _Worker(self._zygote)
        self._all.append(worker)
        self._starting += 1
        threading.Thread(target=self._init, args=(worker,), daemon=True).start()

    def _init(self, worker: _Worker) -> None:
        state, detail = worker.ready(60)
        if state != "ready":
            if not self._closed:  # a spare cut short by the stack stopping is no news
                print(f"{self.spec.name}: init failed: {detail[0]}: {detail[1]}", file=sys.stderr)
            worker.stop()
        with self._lock:
            self._starting -= 1
            if state == "ready" and not self._closed:
                self._hand_over(worker)
            else:
                self._forget(worker)
                if state != "ready" and self._waiting:
                    # The caller that waited longest learns why; the next one, if
                    # any, waits for another attempt (the code may have been fixed).
                    ticket = self._waiting.popleft()
                    ticket.init_error = detail
                    ticket.ready.set()
                    if self._waiting:
                        self._scale_out()
            if self._deferred and self._waiting:
                self._deferred -= 1
                self._scale_out()

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if not worker.process.is_alive() or self._closed:
                self._forget(worker)
                if self._waiting:
                    self._scale_out()
            else:
                self._hand_over(worker)

    def _hand_over(self, worker: _Worker) -> None:
        """A ready worker goes to the longest waiting caller, else it waits idle."""
        if self._waiting:
            ticket = self._waiting.popleft()
            ticket.worker = worker
            ticket.ready.set()
        else:
            self._idle.append((worker, time.monotonic()))

    def _discard(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._forget(worker)
            if self._waiting:
                self._scale_out()

    def _forget(self, worker: _Worker) -> None:
        if worker in self._all:
            self._all.remove(worker)
        self._idle = [(w, t) for w, t in self._idle if w is not worker]

    def _retire_idle(self) -> None:
        while True:
            time.sleep(min(self._idle_seconds / 2, 10.0))
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                # Keep one warm worker, as the stack warmed it at start.
                stale = [w for w, t in self._idle[1:] if now - t >= self._idle_seconds]
                for worker in stale:
                    self._forget(worker)
            for worker in stale:
                worker.stop()
