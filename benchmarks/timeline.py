"""One answer through the whole stack, timed against its upstream: a 300-token answer
at 50 tokens/s (6 s, the scale model's workload) from the local model, which notes when
it sent each token, and a client noting when each frame arrived (same machine, same
clock)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from benchmarks.load import add_users
from local_stack.launcher import start_stack

__all__ = ["streaming_timeline"]


# The latencies below are a few milliseconds, where one scheduling hiccup on a shared
# VM counts: each is the median over this many answers (after a first, warming one).
ANSWERS = 3


def streaming_timeline(
    workdir: Path, *, tokens: int = 300
) -> tuple[dict[str, float], dict[str, Any]]:
    """The figures, and the timeline for the chart: upstream tokens and frames received,
    as (seconds from the first token, characters so far)."""
    stack = start_stack(workdir, MODEL_TOKENS=str(tokens), MODEL_TOKEN_DELAY="0.02")
    try:
        token = add_users(stack, 1)[0]
        # The first answer pays the container's one-time costs (the model client, the
        # @connections client), which the cold-start figures cover.
        asyncio.run(_one_answer(f"{stack.url}?token={token}"))
        answers = [asyncio.run(_one_answer(f"{stack.url}?token={token}")) for _ in range(ANSWERS)]
        url = f"{stack.state['aiBaseUrl']}/streams"
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback)
            streams: list[list[tuple[float, int]]] = json.loads(answer.read())["streams"]
    finally:
        stack.stop()
    timed = [
        _timed(frames, upstream)
        for frames, upstream in zip(answers, streams[-ANSWERS:], strict=True)
    ]
    figures = {
        name: statistics.median(one[name] for one, _ in timed)
        for name in (
            "stream_tokens",
            "stream_frames",
            "stream_first_chunk_after_upstream_ms",
            "stream_final_after_last_token_ms",
        )
    }
    return figures, timed[-1][1]


def _timed(
    frames: list[tuple[float, dict[str, Any]]], upstream: list[tuple[float, int]]
) -> tuple[dict[str, float], dict[str, Any]]:
    """One answer's figures against the tokens its upstream sent, and its timeline."""
    chunks = [(t, f) for t, f in frames if f["type"] == "ai_response_chunk"]
    final_at = next(t for t, f in frames if f["type"] == "ai_response")
    start = upstream[0][0]
    figures = {
        "stream_tokens": float(len(upstream)),
        "stream_frames": float(len(chunks)),
        "stream_first_chunk_after_upstream_ms": (chunks[0][0] - upstream[0][0]) * 1000,
        "stream_final_after_last_token_ms": (final_at - upstream[-1][0]) * 1000,
    }
    timeline = {
        "upstream": _thinned(_cumulative([(t - start, n) for t, n in upstream])),
        "received": _cumulative([(t - start, len(f["delta"])) for t, f in chunks]),
    }
    return figures, timeline


def _cumulative(points: list[tuple[float, int]]) -> list[tuple[float, int]]:
    total, out = 0, []
    for seconds, chars in points:
        total += chars
        out.append((round(seconds, 4), total))
    return out


def _thinned(points: list[tuple[float, int]], keep: int = 100) -> list[tuple[float, int]]:
    """About ``keep`` points, the last included: enough for the chart, small on disk."""
    step = max(1, len(points) // keep)
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])


async def _one_answer(url: str) -> list[tuple[float, dict[str, Any]]]:
    received: list[tuple[float, dict[str, Any]]] = []
    async with connect(url) as ws:
        await ws.send(json.dumps({"action": "chat_message", "data": {"message": "go"}}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            received.append((time.time(), frame))
            if frame["type"] in ("ai_response", "error"):
                return received
