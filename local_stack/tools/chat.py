"""``make chat``: an interactive terminal client. Signs in, connects, streams replies as
they arrive, and reconnects with backoff when the connection drops, signing in again
when the token is refused (it expired, or the stack restarted with a new user pool).

Type a message to chat. Commands: /debug, /history, /list, /new, /use ID, /stop, /regen,
/edit TEXT, /versions, /model [ID], /ping, /quit. /stop ends the reply being written (from
this or any other of your clients). /regen answers your last message again, /edit TEXT
replaces it and answers it again (earlier answers and texts: /versions). /model lists the
models you may choose; /model ID answers with that one from your next message on.

    make chat                                  # the demo user, a new conversation
    python -m local_stack.tools.chat --conversation ID   # carry on a conversation (see /list)
    python -m local_stack.tools.chat --anonymous         # ping and debug only
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Close

from local_stack.state import StackNotRunning, read_state
from local_stack.tools.token import add_sign_in_arguments, tokens_from_args

__all__ = ["Session", "main"]

HELP = (
    "  commands: /debug /history /list /new /use ID /stop /regen /edit TEXT /versions"
    " /model [ID] /ping /quit"
)
# Controls (C0 but newline and tab, DEL, C1) and bidi overrides, shown escaped: text from
# the server (a reply, a title) must not move the cursor, clear the screen or recolour it.
_ESCAPED = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"}
_ESCAPED |= {
    c: f"\\u{c:04x}"
    for c in (0x61C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def _safe(text: object) -> str:
    return str(text).translate(_ESCAPED)


def _show(frame: dict[str, Any], streamed: set[str] | None = None) -> None:
    """Print a frame; ``streamed`` holds the replies whose text is already on screen."""
    streamed = set() if streamed is None else streamed
    kind = frame.get("type")
    if kind == "ai_response_chunk":
        streamed.add(frame.get("messageId", ""))
        print(_safe(frame["delta"]), end="", flush=True)
    elif kind == "ai_response":
        if frame.get("messageId", "") not in streamed and frame.get("content"):
            # This client came in as the reply ended: no chunk shown, so the whole text.
            print(f"(resumed) assistant> {_safe(frame['content'])}", end="", flush=True)
        usage = frame.get("usage") or {}
        print(
            f"\n  [{_safe(frame.get('model'))}, {_safe(frame.get('finishReason'))}, "
            f"{usage.get('totalTokens', '?')} tokens]",
            flush=True,
        )
    elif kind == "message_received":
        if frame.get("edited"):
            print(f"  (edited) you> {_safe(frame.get('message'))}")
        elif frame.get("regenerated"):
            print("  (regenerating)")
        print("assistant> ", end="", flush=True)
    elif kind == "ai_response_snapshot":  # back mid-answer: what was missed, then the rest
        streamed.add(frame.get("messageId", ""))
        print(f"(resumed) assistant> {_safe(frame['content'])}", end="", flush=True)
    elif kind == "reply_stop_requested":
        print("\n  (stopping...)", flush=True)
    elif kind == "error":
        print(f"\n! {frame.get('code')}: {_safe(frame.get('message'))}", flush=True)
    elif kind == "chat_history":
        for message in frame["messages"]:
            version = (
                f" ({message['version']}/{message['versions']})" if "versions" in message else ""
            )
            print(f"  {message['role']:>9}{version}: {_safe(message['content'])}")
        if not frame["messages"]:
            print("  (no messages yet)")
    elif kind == "models":
        for model in frame["models"]:
            print(f"  {model['id']}  {_safe(model['label'])}")
        if not frame["models"]:
            print("  (this server offers no choice of model)")
    elif kind == "message_versions":
        for kind_, versions in (("text", frame["texts"]), ("answer", frame["answers"])):
            for version in versions:
                print(f"  {kind_} {version['version']}: {_safe(version['content'])}")
        if not frame["texts"] and not frame["answers"]:
            print("  (no earlier versions)")
    elif kind == "conversations":
        for conversation in frame["conversations"]:
            print(f"  {conversation['conversationId']}  {_safe(conversation['title'])}")
        if not frame["conversations"]:
            print("  (no conversations yet: type a message to start one)")
    else:
        print(f"  {json.dumps(frame)}", flush=True)


def _new_conversation_id() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


class Session:
    """What the client remembers across reconnects: where to connect, as whom, which
    conversation, and what it is still waiting for."""

    def __init__(
        self, url: Callable[[], str], token: Callable[[], str | None], conversation: str | None
    ) -> None:
        self._url = url
        self._token = token
        self.conversation = conversation or _new_conversation_id()
        self.has_messages = conversation is not None  # a resumed one has history
        self.pending = 0  # requests sent whose last reply has not arrived yet
        self.unsent: str | None = None  # typed while the connection was down
        self.streamed: set[str] = set()  # replies whose text is on screen (by messageId)
        self.model: str | None = None  # the model chosen with /model ID, sent with each turn
        self.last_message: str | None = None  # your last message's id: /edit, /versions

    def connect_url(self) -> str:
        """Signs in afresh each time: a token that expired, or a stack that restarted
        with a new user pool, must not leave the client refused forever."""
        token = self._token()
        url = self._url()
        return url if token is None else f"{url}?token={quote(token)}"

    def shows(self, frame: dict[str, Any]) -> bool:
        """Whether a frame is this client's to show: one about the open conversation,
        or about none. The server sends a user's frames for all their conversations
        (another client's reply, or one still streaming from before /new)."""
        conversation = frame.get("conversationId")
        return conversation is None or conversation == self.conversation

    def received(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message_received":
            self.last_message = frame.get("messageId")
        elif kind == "chat_history":  # after /use: /edit and /versions know the last one
            mine = [m["messageId"] for m in frame["messages"] if m["role"] == "user"]
            self.last_message = mine[-1] if mine else self.last_message
        partial_reply = kind == "ai_response" and frame.get("finishReason") == "error"
        if kind not in _NOT_FINAL and not partial_reply:  # an error frame follows a partial one
            self.pending = max(0, self.pending - 1)

    def frame_for(self, line: str) -> dict[str, Any] | None:
        """The frame a typed line sends, or None when it is answered locally."""
        commands: dict[str, dict[str, Any]] = {
            "/debug": {"action": "debug_status"},
            "/ping": {"action": "ping"},
            "/list": {"action": "list_conversations"},
        }
        if line in commands:
            return commands[line]
        if line == "/stop":
            return {"action": "stop_reply", "data": {"conversationId": self.conversation}}
        if line == "/history":
            if not self.has_messages:
                print(f"  (no messages yet in {self.conversation})")
                return None
            return {"action": "chat_history", "data": {"conversationId": self.conversation}}
        if line == "/model":
            return {"action": "list_models"}
        if line.startswith("/model "):
            self.model = line.split(maxsplit=1)[1]
            print(f"  model {self.model} answers from your next message on")
            return None
        if line == "/regen":
            return self._turn("regenerate_reply", {})
        if line.startswith("/edit "):
            if self.last_message is None:
                print("  (nothing to edit yet in this session: send a message first)")
                return None
            text = line.split(maxsplit=1)[1]
            return self._turn("edit_message", {"messageId": self.last_message, "message": text})
        if line == "/versions":
            if self.last_message is None:
                print("  (no message of yours in this session yet)")
                return None
            data = {"conversationId": self.conversation, "messageId": self.last_message}
            return {"action": "message_versions", "data": data}
        if line == "/new":
            self.conversation, self.has_messages = _new_conversation_id(), False
            self.last_message = None
            self.pending = 0  # the last conversation's reply is no longer waited for
            print(f"  new conversation {self.conversation}")
            return None
        if line.startswith("/use "):
            self.conversation, self.has_messages = line.split(maxsplit=1)[1], True
            self.last_message = None
            self.pending = 0
            print(f"  now in conversation {self.conversation} (/history to see it)")
            return None
        if line.startswith("/"):
            print(HELP)
            return None
        self.has_messages = True
        return self._turn("chat_message", {"message": line})

    def _turn(self, action: str, data: dict[str, Any]) -> dict[str, Any]:
        """A request that starts a reply in the open conversation, with the chosen model."""
        data = {
            "conversationId": self.conversation,
            **data,
            "clientMessageId": f"cli-{uuid.uuid4().hex}",
        }
        if self.model is not None:
            data["model"] = self.model
        return {"action": action, "data": data}


_NOT_FINAL = {
    "message_received",
    "ai_response_chunk",
    "ai_response_snapshot",
    "user_typing",
    "user_status_change",
}


def _read_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Standard input, read in a daemon thread: it never keeps the client from exiting
    (a read in asyncio's executor made /quit and Ctrl-C wait for Enter)."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.strip())
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def _listen(ws: ClientConnection, session: Session) -> None:
    async for raw in ws:
        frame = json.loads(raw)
        if not session.shows(frame):
            continue
        _show(frame, session.streamed)
        session.received(frame)
        if frame.get("code") == "TOKEN_EXPIRED":
            print("  (signing in again; send that message once more)", flush=True)
            await ws.close(1000, "token expired")  # the loop reconnects with a fresh token


async def _settled(session: Session, listener: asyncio.Future[None]) -> None:
    while session.pending and not listener.done():
        await asyncio.sleep(0.05)


async def run(session: Session) -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=_read_lines, args=(loop, queue), daemon=True).start()
    delay = 1.0
    while True:
        try:
            async with connect(session.connect_url()) as ws:
                delay = 1.0
                print(f"connected; conversation {session.conversation}. /quit to leave.")
                if await _converse(ws, session, queue):
                    return
        except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus) as err:
            session.pending = 0
            print(f"\n! connection lost ({_why(err)}); reconnecting in {delay:.0f} s", flush=True)
        except StackNotRunning as err:
            print(f"\n! {err}; trying again in {delay:.0f} s", flush=True)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


async def _converse(
    ws: ClientConnection, session: Session, queue: asyncio.Queue[str | None]
) -> bool:
    """Send what is typed over one connection, one request at a time; True when the
    user is done (/quit, or input ended), else raises when the connection ends."""
    listener = asyncio.ensure_future(_listen(ws, session))
    try:
        while True:
            line: str | None
            if session.unsent is not None:
                line, session.unsent = session.unsent, None
            else:
                line = await _next(queue, listener)
            if line is _CLOSED:
                raise _closed(ws)
            if line is None:  # input ended (a pipe): let the replies finish
                await asyncio.wait_for(_settled(session, listener), 60)
                return True
            if line == "/quit":
                return True
            frame = session.frame_for(line) if line else None
            if frame is None:
                continue
            # One request at a time: the next waits for the last reply; a stop goes at
            # once, it is about the reply being written.
            if frame["action"] != "stop_reply":
                await asyncio.wait_for(_settled(session, listener), 60)
            if listener.done():  # the server closed while we waited: send it once back
                session.unsent = line
                raise _closed(ws)
            session.pending += 1
            await ws.send(json.dumps(frame))
    finally:
        # However the connection ends (Ctrl-C included), the listener is stopped and
        # its outcome collected: nothing is left to print.
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


_CLOSED = "\x00closed"  # what _next answers when the server closed the connection


async def _next(queue: asyncio.Queue[str | None], listener: asyncio.Future[None]) -> str | None:
    """The next typed line, or _CLOSED as soon as the connection ends: a closed
    connection is noticed at once, not when the user next types."""
    line = asyncio.ensure_future(queue.get())
    either: set[asyncio.Future[Any]] = {line, listener}
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if line.done():
        return line.result()
    line.cancel()
    return _CLOSED


def _closed(ws: ClientConnection) -> websockets.ConnectionClosed:
    """The connection's end, with the code and reason the server closed it with."""
    close = Close(ws.close_code, ws.close_reason or "") if ws.close_code is not None else None
    return websockets.ConnectionClosedError(close, None)


def _why(err: Exception) -> str:
    if isinstance(err, websockets.InvalidStatus):
        return f"the server refused the handshake with {err.response.status_code}; signing in again"
    if isinstance(err, websockets.ConnectionClosed) and err.rcvd is not None:
        return f"closed by the server: {err.rcvd.code} {err.rcvd.reason}".strip()
    return str(err) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    # Each line shows as it is printed, through a pipe too (a pipe's stdout is
    # block-buffered unless PYTHONUNBUFFERED is set, and CI does not set it).
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(
        prog="make chat", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_sign_in_arguments(parser)
    parser.add_argument("--url", help="WebSocket URL (default: the local stack's)")
    parser.add_argument("--anonymous", action="store_true", help="connect without a token")
    parser.add_argument("--conversation", help="carry on this conversation (see /list)")
    args = parser.parse_args(argv)
    if args.url is None:
        try:
            read_state()
        except StackNotRunning as err:
            print(err, file=sys.stderr)
            return 1

    def url() -> str:
        return str(args.url or read_state()["websocketUrl"])

    def token() -> str | None:
        return None if args.anonymous else tokens_from_args(args)["idToken"]

    try:
        asyncio.run(run(Session(url, token, args.conversation)))
    except KeyboardInterrupt:
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
