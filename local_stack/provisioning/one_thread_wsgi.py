"""A WSGI server that answers every request on one thread, from an asyncio loop (SQS's
on threads, so that a long poll waits without holding the others).

The embedded AWS applies its requests one at a time anyway (``dynamodb_fidelity``), so
threads bought it nothing but hand-offs: with waitress, a request woke the server's
loop thread, which parsed it and woke a worker thread, which ran moto and woke the loop
thread again, each waiting for a CPU and the GIL on a busy machine. Under the chat load
an SDK call took 30-50 ms where moto's own work was 1-7 ms. Here the loop that reads a
request runs the application at once and writes the answer (aiohttp's parser; keep-alive
connections, as AWS's endpoints keep them).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

from aiohttp import web

__all__ = ["WsgiApp", "handler", "serve"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
log = logging.getLogger("local_stack.embedded_aws")

_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}


def handler(app: WsgiApp) -> Callable[[web.BaseRequest], Any]:
    """The aiohttp request handler that runs ``app`` for each request: on the loop's
    thread, except SQS's, each on a thread of its own (as moto's own server runs every
    request): a long poll (``ReceiveMessage`` with ``WaitTimeSeconds``) waits there for
    a message, which a ``SendMessage`` answered on the loop meanwhile wakes."""
    waiting = ThreadPoolExecutor(max_workers=_SQS_THREADS, thread_name_prefix="sqs")

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        body = await request.content.read()  # no size cap: a BatchWriteItem runs to 16 MB
        port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
        environ = _environ(request, body, port)
        if request.headers.get("X-Amz-Target", "").startswith("AmazonSQS."):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(waiting, _call, app, environ)
        return _call(app, environ)

    return handle


# Long polls held at once: every poller of every event source mapping, and more.
_SQS_THREADS = 256


def _environ(request: web.BaseRequest, body: bytes, port: int) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(request.raw_path.partition("?")[0], encoding="latin-1"),
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "REMOTE_ADDR": request.remote or "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ[key] = value
        elif key != "CONTENT_LENGTH":
            key = f"HTTP_{key}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _call(app: WsgiApp, environ: dict[str, Any]) -> web.Response:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return lambda _data: None  # the legacy write(): nothing here uses it

    try:
        result = app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
    except Exception:
        log.exception("the embedded AWS failed on %s", environ["PATH_INFO"])
        return web.Response(status=500, text="Internal Server Error")
    status, headers = started
    response = web.Response(status=int(status.split(" ", 1)[0]), body=data)
    for name, value in headers:
        if name.lower() not in _HOP_BY_HOP:
            response.headers.add(name, value)
    return response


def _stop_at_the_end(loop: asyncio.AbstractEventLoop, fd: int, stopped: asyncio.Event) -> None:
    if not os.read(fd, 4096):  # the other end closed: whoever started us is gone
        loop.remove_reader(fd)
        stopped.set()


def serve(app: WsgiApp, *, port: int, until_closes: int | None = None) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until SIGTERM or SIGINT, or until the file
    descriptor ``until_closes`` (a pipe from the process that started us) ends."""

    async def main() -> None:
        # Idle keep-alive connections stay open, as SDKs expect of AWS's endpoints.
        server = web.Server(handler(app), keepalive_timeout=3600)
        loop = asyncio.get_running_loop()
        listening = await loop.create_server(
            server, "127.0.0.1", port, reuse_address=True, backlog=1024
        )
        stopped = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopped.set)
        if until_closes is not None:
            loop.add_reader(until_closes, _stop_at_the_end, loop, until_closes, stopped)
        await stopped.wait()
        listening.close()
        # Each idle keep-alive connection holds the whole timeout, and the stack stops
        # its functions' workers before us: no request is left to finish.
        await server.shutdown(0.1)

    asyncio.run(main())
