"""A bare ``websockets`` echo server, the ping figure's baseline: run in a process of
its own, as the gateway is (``python -m benchmarks.echo_server PORT``)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from websockets.asyncio.server import serve

__all__ = ["echo", "main"]


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def main(port: int) -> None:
    async with serve(echo, "127.0.0.1", port):
        await asyncio.Future()  # until killed


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
