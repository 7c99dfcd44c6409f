"""``make bench``: every figure in one run; budgets for those that mean something on AWS.

Prints one table, writes ``benchmarks/results/latest.json`` (machine, Python, versions,
each figure) and exits non-zero naming every figure that missed its budget. Only counts
and same-run ratios have budgets; the local emulator's latencies (ping, chat load,
stop, join) are reported with their spread, never judged: they time this machine.

    make bench                         # full size: 20 users x 3 turns, 500 connections, ...
    python -m benchmarks --smoke       # tiny sizes, no budgets (make test runs this),
                                       # written to .local/bench-smoke.json
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.environment import ENV

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "realtime_chat"
RUNS = int(os.environ.get("BENCH_RUNS", "11"))


def per_message() -> list[tuple[str, int, int, float]]:
    """(action, DynamoDB requests, @connections posts, warm handler ms)."""
    os.environ.update(ENV)
    sys.path[:0] = [str(LAYER), str(ROOT)]
    import boto3
    from moto import mock_aws

    from local_stack.provisioning.template import load_template, table_definition

    calls: Counter[str] = Counter()
    rows = []
    with mock_aws():
        # After mock_aws, which replaces boto3's default session.
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        for service in ("dynamodb", "apigatewaymanagementapi"):

            def count(service: str = service, **_: Any) -> None:
                calls.update([service])

            boto3.DEFAULT_SESSION.events.register(f"before-call.{service}", count)
        client = boto3.client("dynamodb")
        template = load_template()
        for logical_id, name in (
            ("ConnectionsTable", ENV["CONNECTIONS_TABLE"]),
            ("ChatTable", ENV["CHAT_TABLE"]),
        ):
            client.create_table(**table_definition(template, logical_id, name))

        spec = importlib.util.spec_from_file_location(
            "bench_default", ROOT / "functions/default/app.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        events = {
            n: json.loads((ROOT / "events" / f"{n}.json").read_text())
            for n in (
                "ping",
                "debug_status",
                "chat_history",
                "list_conversations",
                "chat_typing",
                "user_status",
            )
        }
        context = type(
            "Ctx",
            (),
            {
                "function_name": "bench",
                "memory_limit_in_mb": 512,
                "invoked_function_arn": "arn",
                "aws_request_id": "r",
            },
        )()
        for name, event in events.items():
            with contextlib.redirect_stdout(io.StringIO()):
                module.lambda_handler(event, context)  # warm
                calls.clear()
                started = time.perf_counter()
                for _ in range(20):
                    module.lambda_handler(event, context)
            elapsed = (time.perf_counter() - started) / 20 * 1000
            rows.append(
                (name, calls["dynamodb"] // 20, calls["apigatewaymanagementapi"] // 20, elapsed)
            )
    return rows


def coalescing() -> list[tuple[int, float, int]]:
    """(tokens, seconds between tokens, posts) for one streamed answer, coalesced as the
    template's defaults set the reply function's chunks."""
    sys.path.insert(0, str(LAYER))
    from benchmarks.scale_model import DEPLOYED
    from realtime_chat.coalescer import Coalescer

    rows = []
    for tokens, gap in ((300, 0.02), (300, 0.005), (1000, 0.01)):
        c = Coalescer(
            interval=DEPLOYED.chunk_seconds,
            max_interval=DEPLOYED.max_chunk_seconds,
            max_chars=DEPLOYED.chunk_chars,
        )
        posts, now = 0, 0.0
        for _ in range(tokens):
            now += gap
            posts += c.feed("tok ", now) is not None
        posts += c.flush(now) is not None
        rows.append((tokens, gap, posts))
    return rows


# (figure, budget): what `make bench` holds the code to, each at most its budget.
BUDGETS: list[tuple[str, float]] = [
    # Cold start, import and first event, against `import boto3` and one client, each
    # the median of interleaved rounds' ratios.
    ("cold_default_vs_baseline", 1.3),
    ("cold_connect_vs_baseline", 1.5),
    ("cold_disconnect_vs_baseline", 1.5),
    ("cold_message_vs_baseline", 1.6),
    # Counts: nothing lost, garbled or left unstreamed; a ping costs no request.
    ("pings_lost", 0),
    ("load_problems", 0),
    ("load_streaming_shortfall", 0),
    ("ping_dynamodb_requests", 0),
    ("ping_posts", 0),
    # A turn with 10,000 stored messages against one on an empty table.
    ("ack_stored_vs_empty_p50", 1.5),
    ("first_chunk_stored_vs_empty_p50", 1.5),
    ("stop_seconds_under_load", 3),  # Ctrl-C while every user's reply streams
    # A turn's DynamoDB requests, those that do not grow with the answer's length
    # (docs/scaling.md itemises them); and per second of streaming, one checkpoint
    # write and one connection read, at most.
    ("dynamodb_fixed_requests_per_turn", 11),  # 11 since the reply claims its turn
    ("checkpoint_writes_per_second", 1.0),
    ("connection_reads_per_second", 1.0),
    # A 300-token answer at 50 tokens/s (6 s), timed against the upstream's own clock:
    # its chunk frames, the first one's delay after the first token, the final frame's
    # after the last.
    ("stream_frames", 20),
    ("stream_first_chunk_after_upstream_ms", 5),
    ("stream_final_after_last_token_ms", 30),
    # Lambda's limit for a function and its layers, unzipped, is 250 MB.
    ("package_largest_function_and_layer_mb", 250),
    # The scale model's cost of 1,000 chat turns at 1,000 connections (docs/scaling.md).
    ("cost_per_1000_turns_usd", 0.05),
    # Answers per reply invocation with the mapping capped, measured against the scale
    # model's prediction for the same run: the relative error.
    ("reply_fill_model_error", 0.2),
]


def missed_budgets(figures: dict[str, float]) -> list[str]:
    """The budgeted figures over their budget; figures without one are never judged."""
    return [name for name, limit in BUDGETS if name in figures and not figures[name] <= limit]


def cost_per_1000_turns(figures: dict[str, float]) -> float:
    """The scale model's cost of 1,000 chat turns at 1,000 connections, from these
    figures and ``benchmarks/prices.toml``."""
    import tomllib

    from benchmarks.scale_model import PRICES, Workload, ours, row

    with PRICES.open("rb") as handle:
        inputs = tomllib.load(handle) | {"figures": figures}
    return row(1_000, ours(figures, Workload()), Workload(), inputs).cost_per_1000_turns


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("boto3", "moto", "aiohttp", "websockets")}


def _machine() -> dict[str, Any]:
    import platform

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if os.name == "posix" else 0
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_kb": memory // 1024 or None,
        "python": platform.python_version(),
    }


def measure(smoke: bool) -> tuple[dict[str, float], dict[str, Any]]:
    """Every figure, and the streaming timeline for the chart."""
    import tempfile

    from benchmarks.cold_start import cold_starts
    from benchmarks.package_size import package_sizes
    from benchmarks.reply_batches import reply_batches
    from benchmarks.stack_figures import measure_stack
    from benchmarks.timeline import streaming_timeline

    figures: dict[str, float] = {}
    for name, row in cold_starts(1 if smoke else RUNS).items():
        figures[f"cold_{name}_ms"] = row["median_ms"]
        figures[f"cold_{name}_spread_ms"] = row["spread_ms"]
        if name != "baseline":
            figures[f"cold_{name}_vs_baseline"] = row["vs_baseline"]
    users, turns = (2, 1) if smoke else (20, 3)
    with tempfile.TemporaryDirectory() as workdir:
        figures |= measure_stack(Path(workdir), users=users, turns=turns, small=smoke)
        stream, timeline = streaming_timeline(
            Path(workdir) / "timeline", tokens=200 if smoke else 300
        )
        figures |= stream
        figures |= reply_batches(Path(workdir) / "batches", users=users, turns=turns)
    predicted = figures["reply_fill_predicted"]
    figures["reply_fill_model_error"] = abs(figures["reply_fill_measured"] / predicted - 1)
    figures["load_streaming_shortfall"] = users - figures["load_max_streaming"]
    for action, ddb, posts, ms in per_message():
        figures[f"{action}_dynamodb_requests"] = ddb
        figures[f"{action}_posts"] = posts
        figures[f"{action}_warm_ms"] = ms
    for tokens, gap, posts in coalescing():
        figures[f"posts_for_{tokens}_tokens_every_{gap * 1000:.0f}ms"] = posts
    if not smoke:  # a sam build takes a while and fetches wheels
        figures |= package_sizes()
    figures["cost_per_1000_turns_usd"] = cost_per_1000_turns(figures)
    return figures, timeline


def default_output(*, smoke: bool) -> Path:
    """Where a run writes its figures: a smoke run's tiny figures must not replace the
    published ones (the README's table comes from ``benchmarks/results``)."""
    if smoke:
        return ROOT / ".local" / "bench-smoke.json"
    return ROOT / "benchmarks" / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no budgets")
    parser.add_argument(
        "--out",
        type=Path,
        help="default: benchmarks/results/latest.json, or .local/bench-smoke.json with --smoke",
    )
    args = parser.parse_args(argv)
    args.out = args.out or default_output(smoke=args.smoke)
    figures, timeline = measure(args.smoke)
    budgets = dict(BUDGETS)
    missed = missed_budgets(figures)
    print(f"{'figure':<46} {'value':>12}  budget")
    for name, value in figures.items():
        mark = f"<= {budgets[name]:g}" if name in budgets else ""
        print(f"{name:<46} {value:>12.2f}  {mark}" + ("  MISSED" if name in missed else ""))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "smoke": args.smoke,
                "machine": _machine(),
                "versions": _versions(),
                "figures": figures,
                "timeline": timeline,
                "budgets": {k: {"limit": v, "missed": k in missed} for k, v in budgets.items()},
            },
            indent=2,
        )
        + "\n"
    )
    from benchmarks.chart import draw

    draw(figures, timeline, args.out.with_suffix(".png"))
    print(f"\nwritten to {args.out} and {args.out.with_suffix('.png').name}")
    if missed and not args.smoke:
        print(f"budgets missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
