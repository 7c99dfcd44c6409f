"""``make bench``: what a cold start and a message cost.

1. Cold start: a fresh interpreter per run imports each function's ``app`` module
   (which builds its adapters), median of several runs, against bare interpreter start.
2. Per message, in-process against moto: DynamoDB requests and ``@connections`` posts
   per action, warm handler time, and posts per streamed answer with coalescing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "realtime_chat"
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "CONNECTIONS_TABLE": "bench-connections",
    "CHAT_TABLE": "bench-chat",
    "API_SECRETS_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench",
    "USER_POOL_ID": "us-east-1_bench",
    "USER_POOL_CLIENT_ID": "benchclient",
    "AWS_LAMBDA_FUNCTION_NAME": "bench-chat-message",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "AI_BASE_URL": "http://127.0.0.1:9/v1",
}

FUNCTIONS = ("authorizer", "connect", "disconnect", "default", "message")


def _cold(code: str) -> float:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **ENV}
    env["PYTHONPATH"] = str(LAYER)
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def cold_starts() -> list[tuple[str, float]]:
    rows = []
    for name in FUNCTIONS:
        code = (
            "import sys, time; t = time.perf_counter(); "
            f"sys.path.insert(0, {str(ROOT / 'functions' / name)!r}); import app; "
            "print(round((time.perf_counter() - t) * 1000, 1))"
        )
        rows.append((name, _cold(code)))
    return rows


def per_message() -> list[tuple[str, int, int, float]]:
    """(action, DynamoDB requests, @connections posts, warm handler ms)."""
    os.environ.update(ENV)
    sys.path[:0] = [str(LAYER), str(ROOT)]
    import boto3
    from moto import mock_aws

    from local_stack.template import load_template, table_definition

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
    """(tokens, seconds between tokens, posts) for one streamed answer."""
    sys.path.insert(0, str(LAYER))
    from realtime_chat.coalescer import Coalescer

    rows = []
    for tokens, gap in ((300, 0.02), (300, 0.005), (1000, 0.01)):
        c, posts, now = Coalescer(), 0, 0.0
        for _ in range(tokens):
            now += gap
            posts += c.feed("tok ", now) is not None
        posts += c.flush(now) is not None
        rows.append((tokens, gap, posts))
    return rows


def main() -> int:
    print(f"Cold start (fresh interpreter, median of {RUNS}): import app + build adapters")
    for name, ms in cold_starts():
        print(f"  {name:<20} {ms:8.1f} ms")
    print("\nPer message, warm, against moto (in-process):")
    print(f"  {'action':<20} {'DynamoDB':>8} {'posts':>6} {'handler ms':>11}")
    for name, ddb, posts, ms in per_message():
        print(f"  {name:<20} {ddb:>8} {posts:>6} {ms:>11.2f}")
    print("\nStreamed answer: @connections posts per connection with coalescing")
    for tokens, gap, posts in coalescing():
        print(f"  {tokens:>5} tokens, one every {gap * 1000:.0f} ms -> {posts:>4} posts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
