"""What the local stack prints while it runs: one readable line per event by default,
or the functions' raw output (Powertools JSON and EMF metrics) with ``LOG_FORMAT=json``.

A function's line: ``12:00:01.234 MessageFunction  INFO  model unavailable  reason=...``.
Metric blobs are dropped, except the ones that name an outcome (an error code sent, a
reply's outcome, a refused handshake), which become a short line. Tracebacks and
anything else a function prints pass through unchanged.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from typing import Any, TextIO

__all__ = ["ReadableOutput", "configure_gateway_log", "readable"]

# Keys every Powertools line carries: shown in the prefix, or noise here.
_CONTEXT = {
    "level", "location", "message", "timestamp", "service", "cold_start", "function_name",
    "function_memory_size", "function_arn", "function_request_id", "xray_trace_id",
    "sampling_rate", "exception_name", "stack_trace",
}  # fmt: skip
# Metrics that say how something ended; the rest repeat what the gateway's line says.
_OUTCOMES = {"ErrorsSent", "RepliesStreamed", "ConnectionsRefused", "TokenKeysUnavailable"}


def readable(env: dict[str, str]) -> bool:
    return env.get("LOG_FORMAT", "readable").lower() != "json"


def _now() -> str:
    moment = time.time()
    return time.strftime("%H:%M:%S", time.localtime(moment)) + f".{int(moment % 1 * 1000):03d}"


def format_line(function: str, line: str) -> str | None:
    """One line of a function's output as the readable view shows it (None: dropped)."""
    if not line.startswith("{"):
        return line
    if line.startswith('{"_aws"') and not any(name in line for name in _OUTCOMES):
        return None  # a metric that names no outcome, dropped without parsing it
    try:
        entry: dict[str, Any] = json.loads(line)
    except ValueError:
        return line
    if "_aws" in entry:  # an EMF metric
        metrics = entry["_aws"].get("CloudWatchMetrics") or [{}]
        names = [m["Name"] for m in metrics[0].get("Metrics", [])]
        shown = [n for n in names if n in _OUTCOMES]
        if not shown:
            return None
        dimensions = [d for group in metrics[0].get("Dimensions", []) for d in group]
        detail = " ".join(f"{d}={entry[d]}" for d in dimensions if d != "service" and d in entry)
        return f"{_now()} {function:<18} {shown[0]} {detail}".rstrip()
    extras = " ".join(
        f"{k}={v}" for k, v in entry.items() if k not in _CONTEXT and k != "exception"
    )
    text = f"{_now()} {function:<18} {entry.get('level', ''):<5} {entry.get('message', '')}"
    if extras:
        text += f"  {extras}"
    if "exception" in entry:
        text += "\n" + str(entry["exception"])
    return text


class ReadableOutput(io.TextIOBase):
    """A worker's stdout: whole lines, reformatted, written to ``target``."""

    def __init__(self, function: str, target: TextIO) -> None:
        self._function = function
        self._target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            shown = format_line(self._function, line)
            if shown is not None:
                self._target.write(shown + "\n")
        self._target.flush()
        return len(text)

    def flush(self) -> None:
        self._target.flush()


def configure_gateway_log(*, readable_view: bool) -> None:
    """The gateway's own lines (one per connection and per frame) in the same shape."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_GatewayFormat())
    gateway = logging.getLogger("local_stack.api_gateway.gateway")
    gateway.handlers = [handler]
    gateway.propagate = False
    gateway.setLevel(logging.INFO if readable_view else logging.WARNING)
    # The event source mappings' lines: one per batch they deliver.
    mappings = logging.getLogger("local_stack.event_sources")
    mappings.handlers = [_handler("mapping")]
    mappings.propagate = False
    mappings.setLevel(logging.INFO if readable_view else logging.WARNING)


def _handler(label: str) -> logging.Handler:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_GatewayFormat(label))
    return handler


class _GatewayFormat(logging.Formatter):
    def __init__(self, label: str = "gateway") -> None:
        super().__init__()
        self._label = label

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_now()} {self._label:<18} {record.levelname:<5} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text
