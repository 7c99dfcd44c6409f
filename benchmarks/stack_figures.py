"""Figures measured against a running local stack (``python -m local_stack``): counts
and same-run ratios that mean something on AWS (pings lost, latency with 10,000 stored
messages against an empty table, Ctrl-C under load), and what times or sizes this
machine (pings, the chat load, stop and join, the local gateway's memory), reported
and never judged."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import connect

from benchmarks.load import add_users, percentile, run_load, summary
from benchmarks.recording import recording
from local_stack.launcher import Stack, start_stack

__all__ = ["measure_stack"]

# A stop waits for the reply's next checkpoint, about a second apart, so each trial's
# latency is mostly where in that second it was sent (drawn at random): a p50 over
# 11 trials.
STOP_TRIALS = 11


def _rss_mb(pid: int) -> float:
    """A process's resident memory, as ``ps`` reports it (Linux and macOS)."""
    shown = subprocess.run(
        ["ps", "-o", "rss=", "-p", str(pid)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return int(shown) / 1024 if shown else float("nan")


async def _ping_rtts(url: str, count: int) -> list[float]:
    rtts = []
    async with connect(url) as ws:
        for _ in range(count):
            sent = time.perf_counter()
            await ws.send('{"action":"ping"}')
            await ws.recv()
            rtts.append((time.perf_counter() - sent) * 1000)
    return rtts


async def ping_round_trips(stack: Stack, blocks: int) -> dict[str, float]:
    """Pings through the gateway, in ``blocks`` of 20 on a connection each: the p50 and
    p99 of all, and the spread of the blocks' p50s."""
    rtts = [await _ping_rtts(stack.url, 20) for _ in range(blocks)]
    p50s = [percentile(block, 50) for block in rtts]
    every = [rtt for block in rtts for rtt in block]
    return {
        "ping_p50_ms": percentile(every, 50),
        "ping_p99_ms": percentile(every, 99),
        "ping_p50_spread_ms": max(p50s) - min(p50s),
    }


async def many_connections(stack: Stack, connections: int, pings: int) -> dict[str, float]:
    """Anonymous connections opened 50 at a time, then each pings ``pings`` times."""
    opened: list[Any] = []
    connect_ms: list[float] = []

    async def open_one() -> None:
        started = time.perf_counter()
        opened.append(await connect(stack.url, open_timeout=60))
        connect_ms.append((time.perf_counter() - started) * 1000)

    for start in range(0, connections, 50):
        await asyncio.gather(*(open_one() for _ in range(min(50, connections - start))))

    async def ping(ws: Any) -> int:
        answered = 0
        for _ in range(pings):
            await ws.send('{"action":"ping"}')
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            answered += frame.get("type") == "pong"
        return answered

    answered = sum(await asyncio.gather(*(ping(ws) for ws in opened)))
    rss = _rss_mb(stack.process.pid)
    await asyncio.gather(*(ws.close() for ws in opened))
    return {
        "connections": float(len(opened)),
        "pings_lost": float(connections * pings - answered),
        "connect_p99_ms": percentile(connect_ms, 99),
        "gateway_rss_mb_with_connections": rss,
    }


async def _turn_latencies(
    stack: Stack, token: str, turns: int, conversation: str
) -> tuple[list[float], list[float]]:
    """Each turn's ``message_received`` and first chunk, from the message sent."""
    acks, first_chunks = [], []
    async with connect(f"{stack.url}?token={token}") as ws:
        for n in range(turns):
            sent = time.perf_counter()
            await ws.send(
                json.dumps(
                    {
                        "action": "chat_message",
                        "data": {"message": f"turn {n}", "conversationId": conversation},
                    }
                )
            )
            chunked = False
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if frame["type"] == "message_received":
                    acks.append((time.perf_counter() - sent) * 1000)
                if frame["type"] == "ai_response_chunk" and not chunked:
                    chunked = True
                    first_chunks.append((time.perf_counter() - sent) * 1000)
                if frame["type"] in ("ai_response", "error"):
                    break
    return acks, first_chunks


def _seed_messages(stack: Stack, count: int) -> None:
    """``count`` messages of another user, as the chat function stores them."""
    dynamodb = stack.aws("dynamodb")
    table = stack.state["chatTable"]
    items = [
        {
            "PutRequest": {
                "Item": {
                    "pk": {"S": f"USER#seed-{n % 50}#CONV#c{n % 500}"},
                    "sk": {"S": f"MSG#2026-01-01T00:00:00.000Z#{n:08d}"},
                    "messageId": {"S": f"{n:08d}"},
                    "role": {"S": "user"},
                    "content": {"S": "x" * 200},
                    "timestamp": {"S": "2026-01-01T00:00:00.000Z"},
                }
            }
        }
        for n in range(count)
    ]
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(RequestItems={table: items[start : start + 25]})


def flat_latency(stack: Stack, turns: int, stored: int) -> dict[str, float]:
    """Turn latency on an empty table, then with ``stored`` messages in it: the
    acknowledgement, and the first chunk (the reply reads the conversation's history
    before it asks the model)."""
    token = add_users(stack, 1)[0]
    empty, empty_chunks = asyncio.run(_turn_latencies(stack, token, turns, "flat-empty"))
    _seed_messages(stack, stored)
    full, full_chunks = asyncio.run(_turn_latencies(stack, token, turns, "flat-full"))
    return {
        "ack_p50_ms_empty": percentile(empty, 50),
        "ack_p50_ms_stored": percentile(full, 50),
        "stored_messages": float(stored),
        "ack_stored_vs_empty_p50": percentile(full, 50) / percentile(empty, 50),
        "first_chunk_p50_ms_empty": percentile(empty_chunks, 50),
        "first_chunk_p50_ms_stored": percentile(full_chunks, 50),
        "first_chunk_stored_vs_empty_p50": (
            percentile(full_chunks, 50) / percentile(empty_chunks, 50)
        ),
    }


async def _stop_and_join(url: str, trials: int) -> tuple[list[float], list[float]]:
    """Stop latency (stop_reply sent -> final ai_response received on the streaming
    connection) and join latency (a new connection's handshake -> its snapshot)."""
    stops, joins = [], []
    for _ in range(trials):
        async with connect(url) as laptop, connect(url) as phone:
            await laptop.send(json.dumps({"action": "chat_message", "data": {"message": "go"}}))
            ack = json.loads(await asyncio.wait_for(laptop.recv(), 30))
            while json.loads(await asyncio.wait_for(laptop.recv(), 30))["type"] != (
                "ai_response_chunk"
            ):
                pass
            opened = time.perf_counter()
            async with connect(url) as tab:
                while json.loads(await asyncio.wait_for(tab.recv(), 30))["type"] != (
                    "ai_response_snapshot"
                ):
                    pass
                joins.append((time.perf_counter() - opened) * 1000)
            # A stop comes at any moment, not just after a checkpoint (as the snapshot
            # above was): sample the whole second between two.
            await asyncio.sleep(random.uniform(0, 1))
            sent = time.perf_counter()
            stop = {"action": "stop_reply", "data": {"conversationId": ack["conversationId"]}}
            await phone.send(json.dumps(stop))
            while json.loads(await asyncio.wait_for(laptop.recv(), 30))["type"] != "ai_response":
                pass
            stops.append((time.perf_counter() - sent) * 1000)
    return stops, joins


def _dynamodb_requests_per_answer(stack: Stack) -> dict[str, float]:
    """Every DynamoDB request one whole chat turn makes, from moto's request recorder."""
    token = add_users(stack, 1)[0]

    async def one_turn() -> None:
        async with connect(f"{stack.url}?token={token}") as ws:
            await ws.send(json.dumps({"action": "chat_message", "data": {"message": "long"}}))
            while json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] != "ai_response":
                pass

    with recording(stack) as recorded:
        started = time.perf_counter()
        asyncio.run(one_turn())
        seconds = time.perf_counter() - started
        time.sleep(0.5)  # the reply's last write lands after the final frame
    operations = recorded.operations()
    # A turn's fixed requests: the limiter's UpdateItem, the reply's claim on its turn
    # and the token budget's; the Queries for the user's connections at $connect (the
    # cap), at acceptance and at the reply's start, and for the prompt's history. The
    # other UpdateItems are checkpoints, the other Queries connection re-reads.
    checkpoints = operations.get("UpdateItem", 0) - 3
    rereads = operations.get("Query", 0) - 4
    total = float(sum(operations.values()))
    return {
        "answer_seconds": seconds,
        "dynamodb_requests_per_answer": total,
        "dynamodb_fixed_requests_per_turn": total - checkpoints - rereads,
        "checkpoint_writes_per_second": checkpoints / seconds,
        "connection_reads_per_second": rereads / seconds,
    } | {f"dynamodb_{name}_per_answer": float(n) for name, n in sorted(operations.items())}


def resume_and_stop(workdir: Path, *, trials: int, tokens: int = 1000) -> dict[str, float]:
    """Against answers of ``tokens`` tokens at 200 tokens/s."""
    stack = start_stack(
        workdir,
        MODEL_TOKENS=str(tokens),
        MODEL_TOKEN_DELAY="0.005",
        MOTO_RECORDER_FILEPATH=str(workdir / "moto-recording"),
    )
    try:
        token = add_users(stack, 1)[0]
        stops, joins = asyncio.run(_stop_and_join(f"{stack.url}?token={token}", trials))
        figures = {"stop_p50_ms": percentile(stops, 50), "join_p50_ms": percentile(joins, 50)}
        figures |= _dynamodb_requests_per_answer(stack)
    finally:
        stack.stop()
    return figures


def measure_stack(workdir: Path, *, users: int, turns: int, small: bool) -> dict[str, float]:
    figures: dict[str, float] = {}
    stack = start_stack(workdir / "main", MODEL_TOKEN_DELAY="0.03")
    try:
        time.sleep(1)
        idle = _rss_mb(stack.process.pid)
        figures["gateway_rss_mb_idle"] = idle
        figures |= asyncio.run(ping_round_trips(stack, 2 if small else 10))
        load = summary(asyncio.run(run_load(stack, users=users, turns=turns)))
        figures |= {f"load_{name}": value for name, value in load.items()}
        time.sleep(1)  # the users' disconnects
        figures |= asyncio.run(many_connections(stack, 20 if small else 500, 10))
        figures |= flat_latency(stack, 3 if small else 10, 200 if small else 10_000)
        time.sleep(2)
        figures["gateway_rss_mb_after"] = _rss_mb(stack.process.pid)
        figures["gateway_rss_growth_mb"] = figures["gateway_rss_mb_after"] - idle
    finally:
        figures["stop_seconds"] = stack.stop()
    figures["stop_seconds_under_load"] = _stop_under_load(workdir / "busy", users)
    figures |= resume_and_stop(
        workdir / "resume", trials=1 if small else STOP_TRIALS, tokens=300 if small else 1000
    )
    return figures


def _stop_under_load(workdir: Path, users: int) -> float:
    """SIGTERM while every user's reply is streaming: how long until it has exited."""
    stack = start_stack(workdir, MODEL_TOKEN_DELAY="0.05")
    tokens = add_users(stack, users)

    async def chat(token: str) -> None:
        try:
            async with connect(f"{stack.url}?token={token}") as ws:
                await ws.send(json.dumps({"action": "chat_message", "data": {"message": "go"}}))
                async for _ in ws:
                    pass
        except (websockets.ConnectionClosed, OSError):
            pass

    async def load_then_stop() -> float:
        chats = [asyncio.create_task(chat(token)) for token in tokens]
        await asyncio.sleep(1.5)  # replies streaming
        seconds = await asyncio.to_thread(stack.stop)
        await asyncio.gather(*chats)
        return seconds

    return asyncio.run(load_then_stop())
