"""Cold start as Lambda pays it: a fresh interpreter imports the function's ``app`` (which
builds its adapters) and handles its first event against the embedded AWS. Compared,
interleaved, with a process that imports boto3 and creates one DynamoDB client."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3

from benchmarks.environment import ENV
from local_stack.launcher import free_port
from local_stack.loopback import LoopbackServer, send_json
from local_stack.provisioning.embedded_aws import EmbeddedAws
from local_stack.provisioning.template import load_template, table_definition

__all__ = ["cold_starts"]

ROOT = Path(__file__).resolve().parent.parent
FIRST_EVENTS = {
    "authorizer": "authorizer_anonymous",
    "connect": "connect_anonymous",
    "disconnect": "disconnect",
    "default": "ping",
    "message": "chat_message",
}
BASELINE = (
    "import time; t = time.perf_counter(); import boto3; boto3.client('dynamodb'); "
    "print((time.perf_counter() - t) * 1000)"
)
FUNCTION = """
import json, sys, time
t = time.perf_counter()
sys.path.insert(0, {code!r})
import app
class Context:
    function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    def get_remaining_time_in_millis(self): return 30000
event = json.load(open({event!r}))
try:
    app.lambda_handler(event, Context())
except Exception:
    pass  # the authorizer may refuse; the work was done
print((time.perf_counter() - t) * 1000)
"""


class _Sink(LoopbackServer):
    """@connections and Lambda's Invoke API, answering like AWS and keeping nothing."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                send_json(self, 202 if "/invocations" in self.path else 200, None)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)


def _environment(aws: str, sink: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    return (
        base
        | ENV
        | {
            "AWS_ENDPOINT_URL": aws,
            "AWS_ENDPOINT_URL_LAMBDA": sink,
            "WEBSOCKET_CALLBACK_URL": f"{sink}/prod",
            "JWKS_URL": f"{sink}/jwks.json",
            "PYTHONPATH": str(ROOT / "layers" / "realtime_chat"),
            "PYTHONDONTWRITEBYTECODE": "1",  # each run compiles, as a new package does
        }
    )


def _sample(code: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_starts(runs: int) -> dict[str, dict[str, float]]:
    """For the baseline and each function: median and spread (ms) of ``runs`` samples,
    and each function's ratio to the baseline: the median of each round's ratio, so
    that drift between rounds (a few hundred ms here) cancels out."""
    with EmbeddedAws(free_port()) as aws, _Sink() as sink:
        client = boto3.client(
            "dynamodb",
            endpoint_url=aws.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        template = load_template()
        for logical_id, name in (
            ("ConnectionsTable", "bench-connections"),
            ("ChatTable", "bench-chat"),
        ):
            client.create_table(**table_definition(template, logical_id, name))
        env = _environment(aws.url, f"http://127.0.0.1:{sink.port}")
        # The chat turn's reply job goes to a queue that exists, as in AWS.
        sqs = boto3.client(
            "sqs",
            endpoint_url=aws.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        env["REPLY_QUEUE_URL"] = sqs.create_queue(QueueName="bench-reply-jobs")["QueueUrl"]
        samples: dict[str, list[float]] = {"baseline": []} | {name: [] for name in FIRST_EVENTS}
        for _ in range(runs):  # interleaved: drift hits every column alike
            samples["baseline"].append(_sample(BASELINE, env))
            for name, event in FIRST_EVENTS.items():
                code = FUNCTION.format(
                    code=str(ROOT / "functions" / name),
                    event=str(ROOT / "events" / f"{event}.json"),
                )
                samples[name].append(_sample(code, env))
    base = samples["baseline"]
    return {
        name: {
            "median_ms": statistics.median(values),
            "spread_ms": max(values) - min(values),
            "vs_baseline": statistics.median(v / b for v, b in zip(values, base, strict=True)),
        }
        for name, values in samples.items()
    }


if __name__ == "__main__":
    print(json.dumps(cold_starts(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=1))
