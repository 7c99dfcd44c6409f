"""``make chat``: an interactive terminal client. Signs in, connects, streams replies as
they arrive, and reconnects with backoff when the connection drops.

Type a message to chat. Commands: /debug, /history, /list, /new, /ping, /quit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any
from urllib.parse import quote

import websockets
from websockets.asyncio.client import ClientConnection, connect

from local_stack.state import StackNotRunning, read_state
from local_stack.token import add_sign_in_arguments, tokens_from_args

__all__ = ["main"]


def _show(frame: dict[str, Any]) -> None:
    kind = frame.get("type")
    if kind == "ai_response_chunk":
        print(frame["delta"], end="", flush=True)
    elif kind == "ai_response":
        usage = frame.get("usage") or {}
        print(
            f"\n  [{frame.get('model')}, {frame.get('finishReason')}, "
            f"{usage.get('totalTokens', '?')} tokens]",
            flush=True,
        )
    elif kind == "message_received":
        print("assistant> ", end="", flush=True)
    elif kind == "error":
        print(f"\n! {frame.get('code')}: {frame.get('message')}", flush=True)
    elif kind == "chat_history":
        for message in frame["messages"]:
            print(f"  {message['role']:>9}: {message['content']}")
    elif kind == "conversations":
        for conversation in frame["conversations"]:
            print(f"  {conversation['conversationId']}  {conversation['title']}")
    else:
        print(f"  {json.dumps(frame)}", flush=True)


class Session:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url if token is None else f"{url}?token={quote(token)}"
        self.conversation = f"cli-{int(time.time())}"
        self.sent = 0
        self.pending = 0  # requests sent whose last reply has not arrived yet

    def received(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        partial_reply = kind == "ai_response" and frame.get("finishReason") == "error"
        if kind not in _NOT_FINAL and not partial_reply:  # an error frame follows a partial one
            self.pending = max(0, self.pending - 1)

    def frame_for(self, line: str) -> dict[str, Any] | None:
        commands: dict[str, dict[str, Any]] = {
            "/debug": {"action": "debug_status"},
            "/ping": {"action": "ping"},
            "/list": {"action": "list_conversations"},
            "/history": {"action": "chat_history", "data": {"conversationId": self.conversation}},
        }
        if line in commands:
            return commands[line]
        if line == "/new":
            self.conversation = f"cli-{int(time.time())}"
            print(f"  new conversation {self.conversation}")
            return None
        if line.startswith("/"):
            print("  commands: /debug /history /list /new /ping /quit")
            return None
        self.sent += 1
        return {
            "action": "chat_message",
            "data": {
                "conversationId": self.conversation,
                "message": line,
                "clientMessageId": f"{self.conversation}-{self.sent}",
            },
        }


_NOT_FINAL = {"message_received", "ai_response_chunk", "user_typing", "user_status_change"}


async def _read(ws: ClientConnection, session: Session) -> None:
    async for raw in ws:
        frame = json.loads(raw)
        _show(frame)
        session.received(frame)


async def _lines(queue: asyncio.Queue[str | None]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            await queue.put(None)
            return
        await queue.put(line.strip())


async def run(session: Session) -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    reader = asyncio.ensure_future(_lines(queue))
    delay = 1.0
    try:
        while True:
            try:
                async with connect(session.url) as ws:
                    delay = 1.0
                    print(f"connected; conversation {session.conversation}. /quit to leave.")
                    listener = asyncio.ensure_future(_read(ws, session))
                    while True:
                        line = await queue.get()
                        if line is None:  # input ended (a pipe): let the replies finish
                            await asyncio.wait_for(_settled(session, listener), 60)
                            return
                        if line == "/quit":
                            return
                        frame = session.frame_for(line) if line else None
                        if frame is not None:
                            # One request at a time: the next waits for the last reply.
                            await asyncio.wait_for(_settled(session, listener), 60)
                            session.pending += 1
                            await ws.send(json.dumps(frame))
            except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus) as err:
                print(f"\n! connection lost ({err}); reconnecting in {delay:.0f} s", flush=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
    finally:
        reader.cancel()


async def _settled(session: Session, listener: asyncio.Future[None]) -> None:
    while session.pending and not listener.done():
        await asyncio.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make chat", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_sign_in_arguments(parser)
    parser.add_argument("--url", help="WebSocket URL (default: the local stack's)")
    parser.add_argument("--anonymous", action="store_true", help="connect without a token")
    args = parser.parse_args(argv)
    try:
        url = args.url or read_state()["websocketUrl"]
        token = None if args.anonymous else tokens_from_args(args)["idToken"]
    except StackNotRunning as err:
        print(err, file=sys.stderr)
        return 1
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(Session(url, token)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
