"""`make bench` cannot rot: a tiny run of every figure, without budgets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_end_to_end_and_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = f"{ROOT / 'layers' / 'realtime_chat'}{os.pathsep}{ROOT}"
    ran = subprocess.run(  # noqa: S603 (our own module)
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    written = json.loads(out.read_text())
    figures = written["figures"]
    assert written["smoke"] is True and written["machine"]["cpus"]
    assert figures["load_problems"] == 0 and figures["pings_lost"] == 0
    assert figures["ping_dynamodb_requests"] == 0
    assert figures["ping_p50_ms"] > 0 and figures["ping_p50_spread_ms"] >= 0
    assert figures["gateway_rss_growth_mb"] == figures["gateway_rss_growth_mb"]  # not NaN
    assert 0 < figures["cost_per_1000_turns_usd"] < 1
    assert figures["cold_message_ms"] > 0 and figures["stop_seconds_under_load"] > 0
    assert figures["stream_frames"] > 1 and figures["stream_first_chunk_after_upstream_ms"] > 0
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
