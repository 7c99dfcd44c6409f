"""The PNG beside latest.json: the streaming timeline (upstream tokens against what
the client received) and the chat load's latencies on this machine (not judged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["draw"]


def draw(figures: dict[str, float], timeline: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no screen
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    for name, label, style in (
        ("upstream", "tokens sent by the model", "-"),
        ("received", "text received by the client", "-"),
    ):
        points = timeline.get(name) or []
        if points:
            xs, ys = zip(*points, strict=True)
            left.step(xs, ys, style, where="post", label=label)
    left.set_title(
        f"A {figures.get('stream_tokens', 0):,.0f}-token answer: "
        f"{figures.get('stream_frames', 0):.0f} frames"
    )
    left.set_xlabel("seconds from the model's first token")
    left.set_ylabel("characters")
    left.legend(loc="upper left")
    left.grid(alpha=0.3)

    bars = [
        ("ack p50", "load_ack_p50_ms"),
        ("ack p99", "load_ack_p99_ms"),
        ("1st chunk p50", "load_first_chunk_p50_ms"),
        ("1st chunk p99", "load_first_chunk_p99_ms"),
        ("ping p50", "load_ping_p50_ms"),
        ("ping p99", "load_ping_p99_ms"),
    ]
    right.bar([label for label, _ in bars], [figures.get(key, 0.0) for _, key in bars])
    right.set_title(
        f"Chat load on this machine, {figures.get('load_turns', 0):.0f} turns: latency (ms)"
    )
    right.set_ylabel("ms")
    right.tick_params(axis="x", labelrotation=20)
    right.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
