"""The ping figure's floor: a WebSocket server that hands each frame to a worker process
and sends back what the worker returns, as the gateway does with a function, but with
nothing else on the way (no Lambda event, no handler, no log line). What it measures
above the bare echo is what running the function in a process of its own costs; what
the gateway measures above it is the gateway's and the handler's own work.
``python -m benchmarks.relay_server PORT``."""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from multiprocessing.connection import Connection

from aiohttp import web

from local_stack.event_loop import run

__all__ = ["main"]

_PONG = {"statusCode": 200, "body": '{"type":"pong"}'}


def _worker(conn: Connection, servers_end: Connection) -> None:
    """A function that answers at once, one frame at a time, as a pool's worker does;
    it ends when the server does (killed, it closes its end of the pipe)."""
    servers_end.close()
    while True:
        try:
            conn.recv()
        except EOFError:
            return
        conn.send(("ok", _PONG))


async def _relay(request: web.Request, conn: Connection) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    loop = asyncio.get_running_loop()
    async for message in ws:
        conn.send({"body": message.data})
        answered = loop.create_future()
        loop.add_reader(conn.fileno(), answered.set_result, None)
        try:
            await answered
        finally:
            loop.remove_reader(conn.fileno())
        _state, value = conn.recv()
        await ws.send_str(value["body"])
    return ws


async def main(port: int) -> None:
    ours, theirs = multiprocessing.Pipe()
    worker = multiprocessing.Process(target=_worker, args=(theirs, ours), daemon=True)
    worker.start()
    theirs.close()
    app = web.Application()
    app.router.add_get("/", lambda request: _relay(request, ours))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Future()  # until killed
    finally:
        worker.kill()


if __name__ == "__main__":
    run(main(int(sys.argv[1])))
