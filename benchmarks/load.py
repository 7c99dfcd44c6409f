"""A chat load against a running local stack, as real clients make it: N signed-in users,
each on its own connection, sending T chat turns at once, while another connection
pings throughout. Records what every client saw and checks it against what was stored.

Used at full size by ``make bench`` and at a CI-friendly size by the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from local_stack.launcher import Stack
from local_stack.provisioning.provision import sign_in

__all__ = ["LoadResult", "Turn", "add_users", "percentile", "run_load"]

PASSWORD = "Load-pass-1234"  # local users only


@dataclass
class Turn:
    user: int
    turn: int
    sent: float  # monotonic seconds
    acked: float | None = None
    first_chunk: float | None = None
    done: float | None = None
    seqs: list[int] = field(default_factory=list)
    streamed: str = ""
    final: str | None = None
    conversation_id: str | None = None
    error: str | None = None

    @property
    def ack_ms(self) -> float | None:
        return None if self.acked is None else (self.acked - self.sent) * 1000

    @property
    def first_chunk_ms(self) -> float | None:
        return None if self.first_chunk is None else (self.first_chunk - self.sent) * 1000


@dataclass
class LoadResult:
    turns: list[Turn]
    pings_ms: list[float]
    max_streaming: int  # replies streaming at the same moment, at most
    problems: list[str]  # what a client saw that it should not have

    def ack_ms(self) -> list[float]:
        return [t.ack_ms for t in self.turns if t.ack_ms is not None]

    def first_chunk_ms(self) -> list[float]:
        return [t.first_chunk_ms for t in self.turns if t.first_chunk_ms is not None]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def add_users(stack: Stack, count: int) -> list[str]:
    """Sign-up ``count`` users in the embedded Cognito; their ID tokens."""
    state = stack.state
    cognito = stack.aws("cognito-idp")
    tokens = []
    for n in range(count):
        username = f"load-{n}-{time.monotonic_ns()}@example.com"
        cognito.admin_create_user(
            UserPoolId=state["userPoolId"],
            Username=username,
            UserAttributes=[{"Name": "email", "Value": username}],
            MessageAction="SUPPRESS",
        )
        cognito.admin_set_user_password(
            UserPoolId=state["userPoolId"], Username=username, Password=PASSWORD, Permanent=True
        )
        signed_in = sign_in(
            endpoint=state["awsEndpointUrl"],
            region=state["region"],
            client_id=state["userPoolClientId"],
            username=username,
            password=PASSWORD,
        )
        tokens.append(signed_in["idToken"])
    return tokens


async def _turns_of(url: str, user: int, token: str, turns: int) -> list[Turn]:
    done: list[Turn] = []
    conversation_id: str | None = None
    async with connect(f"{url}?token={token}", max_size=None) as ws:
        for n in range(turns):
            turn = Turn(user, n, time.monotonic())
            data: dict[str, Any] = {
                "message": f"user {user} turn {n}",
                "clientMessageId": f"u{user}-t{n}",
            }
            if conversation_id:
                data["conversationId"] = conversation_id
            await ws.send(json.dumps({"action": "chat_message", "data": data}))
            await _follow(ws, turn)
            conversation_id = conversation_id or turn.conversation_id
            done.append(turn)
        await _check_stored(ws, conversation_id, done)
    return done


async def _follow(ws: ClientConnection, turn: Turn) -> None:
    while turn.done is None:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
        now = time.monotonic()
        kind = frame.get("type")
        if kind == "message_received":
            turn.acked, turn.conversation_id = now, frame["conversationId"]
        elif kind == "ai_response_chunk":
            turn.first_chunk = turn.first_chunk or now
            turn.seqs.append(frame["seq"])
            turn.streamed += frame["delta"]
        elif kind == "ai_response":
            turn.done, turn.final = now, frame["content"]
        elif kind == "error" or "message" in frame:  # ours, or API Gateway's own
            turn.done, turn.error = now, frame.get("code") or frame.get("message")


async def _check_stored(
    ws: ClientConnection, conversation_id: str | None, turns: list[Turn]
) -> None:
    if conversation_id is None:
        return
    await ws.send(
        json.dumps(
            {"action": "chat_history", "data": {"conversationId": conversation_id, "limit": 100}}
        )
    )
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame.get("type") == "chat_history":
            break
    stored = [m["content"] for m in frame["messages"] if m["role"] == "assistant"]
    received = [t.final for t in turns if t.final is not None]
    if stored != received:
        turns[-1].error = turns[-1].error or "stored answers differ from those received"


async def _pinger(url: str, stop: asyncio.Event, every: float) -> list[float]:
    rtts: list[float] = []
    async with connect(url) as ws:
        while not stop.is_set():
            sent = time.monotonic()
            await ws.send('{"action":"ping"}')
            while json.loads(await asyncio.wait_for(ws.recv(), 30)).get("type") != "pong":
                pass
            rtts.append((time.monotonic() - sent) * 1000)
            await asyncio.sleep(every)
    return rtts


def _max_overlap(turns: list[Turn]) -> int:
    edges = [(t.first_chunk, 1) for t in turns if t.first_chunk and t.done]
    edges += [(t.done, -1) for t in turns if t.first_chunk and t.done]
    streaming = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        streaming += step
        peak = max(peak, streaming)
    return peak


async def run_load(stack: Stack, *, users: int, turns: int, ping_every: float = 0.1) -> LoadResult:
    tokens = await asyncio.to_thread(add_users, stack, users)
    stop = asyncio.Event()
    pinger = asyncio.create_task(_pinger(stack.url, stop, ping_every))
    per_user = await asyncio.gather(
        *(_turns_of(stack.url, n, token, turns) for n, token in enumerate(tokens))
    )
    stop.set()
    pings = await pinger
    all_turns = [t for user_turns in per_user for t in user_turns]
    problems = [
        f"user {t.user} turn {t.turn}: {problem}" for t in all_turns for problem in _problems(t)
    ]
    return LoadResult(all_turns, pings, _max_overlap(all_turns), problems)


def _problems(turn: Turn) -> list[str]:
    found = []
    if turn.error:
        found.append(f"error {turn.error}")
    if turn.acked is None:
        found.append("no message_received")
    if turn.seqs != list(range(len(turn.seqs))):
        found.append(f"chunks out of sequence: {turn.seqs[:10]}")
    if turn.final is not None and turn.final != turn.streamed:
        found.append("ai_response differs from the chunks joined")
    return found


def summary(result: LoadResult) -> dict[str, float]:
    acks, firsts = result.ack_ms(), result.first_chunk_ms()
    return {
        "turns": len(result.turns),
        "ack_p50_ms": percentile(acks, 50),
        "ack_p99_ms": percentile(acks, 99),
        "first_chunk_p50_ms": percentile(firsts, 50),
        "first_chunk_p99_ms": percentile(firsts, 99),
        "ping_p50_ms": percentile(result.pings_ms, 50),
        "ping_p99_ms": percentile(result.pings_ms, 99),
        "ping_max_ms": max(result.pings_ms, default=float("nan")),
        "max_streaming": result.max_streaming,
        "problems": len(result.problems),
        "mean_ack_ms": statistics.fmean(acks) if acks else float("nan"),
        **_by_turn(result.turns),
    }


def _by_turn(turns: list[Turn]) -> dict[str, float]:
    """The same p50s for each user's first turn (all users at once, each right after
    its own connect, while the others connect) and for the turns after it."""
    first = [t for t in turns if t.turn == 0]
    later = [t for t in turns if t.turn > 0]
    figures: dict[str, float] = {}
    for name, group in (("first_turn", first), ("later_turns", later)):
        acks = [t.ack_ms for t in group if t.ack_ms is not None]
        chunks = [t.first_chunk_ms for t in group if t.first_chunk_ms is not None]
        figures[f"ack_p50_ms_{name}"] = percentile(acks, 50)
        figures[f"first_chunk_p50_ms_{name}"] = percentile(chunks, 50)
    return figures
