"""Each Lambda function as a pool of warm worker processes, like Lambda's execution
environments: its own environment variables, its own module state, one event at a
time per process, a new process when all are busy, killed at the function timeout."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

__all__ = ["FunctionSpec", "Invocation", "WorkerPool"]

_SPAWN = multiprocessing.get_context("spawn")


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


@dataclass
class Invocation:
    """The outcome of one invoke: ``value`` on success, else ``error_type``/``error``."""

    value: Any = None
    error_type: str | None = None
    error: str | None = None
    duration: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

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


def _serve(spec: FunctionSpec, conn: Connection) -> None:
    """The worker process: set up like a Lambda environment, then handle events forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the stack's to handle
    os.environ.clear()
    os.environ.update(spec.environment)
    sys.path[:0] = [str(spec.code_dir), *spec.python_path]
    module_name, _, function_name = spec.handler.rpartition(".")
    try:
        module = __import__(module_name)
        handler = getattr(module, function_name)
        conn.send(("ready", None))
    except Exception as err:  # an init error, as Lambda reports it
        traceback.print_exc()
        conn.send(("init_error", (type(err).__name__, str(err))))
        return
    while True:
        try:
            event = conn.recv()
        except EOFError:
            return
        context = _Context(spec, time.time() + spec.timeout)
        try:
            conn.send(("ok", handler(event, context)))
        except Exception as err:
            # An authorizer's "Unauthorized" is API Gateway's protocol for 401, not a
            # fault: the function already logged why, so no traceback for it.
            if str(err) != "Unauthorized":
                traceback.print_exc()
            conn.send(("error", (type(err).__name__, str(err))))


class _Worker:
    def __init__(self, spec: FunctionSpec) -> None:
        self.conn, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=_serve, args=(spec, child), daemon=True, name=f"lambda:{spec.name}"
        )
        self.process.start()
        child.close()
        self.init: tuple[str, Any] | None = None

    def ready(self, timeout: float) -> tuple[str, Any]:
        if self.init is None:
            if not self.conn.poll(timeout):
                self.init = ("init_error", ("InitTimeout", "function init timed out"))
            else:
                self.init = self.conn.recv()
        return self.init

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()


class WorkerPool:
    """Invokes one function; blocking, so call it from a thread, never the event loop."""

    def __init__(self, spec: FunctionSpec, *, max_workers: int = 4) -> None:
        self.spec = spec
        self._max = max_workers
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._lock = threading.Condition()
        self._closed = False

    def warm(self) -> None:
        """Start one worker ahead of the first event (the cold start happens now)."""
        worker = self._acquire()
        worker.ready(60)
        self._release(worker)

    def invoke(self, event: dict[str, Any]) -> Invocation:
        started = time.monotonic()
        worker = self._acquire()
        state, detail = worker.ready(60)
        if state != "ready":
            self._discard(worker)
            return Invocation(error_type=detail[0], error=detail[1])
        try:
            worker.conn.send(event)
            if not worker.conn.poll(self.spec.timeout):
                self._discard(worker)
                return Invocation(
                    error_type="TimeoutError",
                    error=f"Task timed out after {self.spec.timeout:.2f} seconds",
                    duration=time.monotonic() - started,
                )
            state, detail = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self._discard(worker)
            return Invocation(error_type="Runtime.ExitError", error="the worker process died")
        self._release(worker)
        elapsed = time.monotonic() - started
        if state == "ok":
            return Invocation(value=detail, duration=elapsed)
        return Invocation(error_type=detail[0], error=detail[1], duration=elapsed)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._lock.notify_all()
        for worker in workers:
            worker.stop()

    def _acquire(self) -> _Worker:
        with self._lock:
            while True:
                if self._closed:
                    raise RuntimeError("the local stack is shutting down")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < self._max:
                    worker = _Worker(self.spec)
                    self._all.append(worker)
                    return worker
                self._lock.wait()

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if worker.process.is_alive() and not self._closed:
                self._idle.append(worker)
            else:
                self._forget(worker)
            self._lock.notify()

    def _discard(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._forget(worker)
            self._lock.notify()

    def _forget(self, worker: _Worker) -> None:
        if worker in self._all:
            self._all.remove(worker)
        if worker in self._idle:
            self._idle.remove(worker)
