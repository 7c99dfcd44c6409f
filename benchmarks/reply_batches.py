"""Answers per reply invocation (batch fill) and the reply worker's memory, measured on
the local stack with the reply queue's mapping capped: 20 users chat at once, the
mapping's deletes are counted from the embedded AWS's request recording, and the
reply function's peak resident memory is what the local Lambda runtime reports for the
invocations that carried a full batch (Lambda's "Max Memory Used")."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from pathlib import Path

from benchmarks.load import run_load
from benchmarks.recording import recording
from benchmarks.scale_model import DEPLOYED, batch_fill
from local_stack.launcher import start_stack

__all__ = ["reply_batches"]

CAP = 2  # the mapping's MaximumConcurrency here: the smallest Lambda takes


def reply_batches(workdir: Path, *, users: int, turns: int, cap: int = CAP) -> dict[str, float]:
    """Measured fill, the scale model's prediction for the same run, and peak RSS."""
    stack = start_stack(
        workdir,
        MODEL_TOKEN_DELAY="0.03",
        MOTO_RECORDER_FILEPATH=str(workdir / "moto-recording"),
        PARAMETER_OVERRIDES=f"ReplyMaxConcurrency={cap}",
    )
    try:
        before = len(stack.log.read_bytes())
        with recording(stack) as recorded:
            asyncio.run(run_load(stack, users=users, turns=turns))
            time.sleep(1)  # the last batches' deletes
        lines = stack.log.read_bytes()[before:].decode("utf-8", "replace")
    finally:
        stack.stop()
    batches = recorded.batches()
    seen = [
        (_seconds(clock), int(size), float(ms) / 1000, float(mb))
        for clock, size, ms, mb in _BATCH.findall(lines)
    ]
    durations = [seconds for _, _, seconds, _ in seen]
    # Lambda's "Max Memory Used" of the invocations that carried a full batch.
    rss = max((mb for _, n, _, mb in seen if n == DEPLOYED.batch_size), default=float("nan"))
    # The model's inputs for this run, while the mapping delivered: answers a second
    # (from the first invocation's start to the last one's end) and how long an
    # invocation holds each (its invocation's length, averaged over answers); their
    # product is the answers in flight (Little's law).
    window = max(end for end, *_ in seen) - min(end - d for end, _, d, _ in seen)
    answers = sum(n for _, n, _, _ in seen)
    held = statistics.fmean(durations, weights=[n for _, n, _, _ in seen])  # per answer
    in_flight = answers / window * held
    return {
        "reply_fill_cap": float(cap),
        "reply_fill_measured": sum(batches) / len(batches) if batches else float("nan"),
        "reply_fill_predicted": batch_fill(in_flight, cap, DEPLOYED.batch_size),
        "reply_batch_max": float(max(batches, default=0)),
        "reply_invocation_seconds": statistics.fmean(durations),
        "reply_worker_peak_rss_mb": rss,
    }


# The mapping's line per batch, printed when the invocation ended:
# "03:19:16.929 mapping  INFO  ReplyJobsMapping: 4 jobs -> ReplyFunction 1234 ms ok, max
# memory used 61 MB"
_BATCH = re.compile(
    r"(\d\d:\d\d:\d\d\.\d+) mapping .*?ReplyJobsMapping: (\d+) jobs -> ReplyFunction"
    r" (\d+) ms .*?max memory used (\d+) MB"
)


def _seconds(clock: str) -> float:
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
