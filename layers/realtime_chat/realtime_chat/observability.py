"""Structured logs (Powertools) and EMF metrics, shared by every function.

Each metric is one CloudWatch embedded-metric-format line, as Powertools'
``single_metric`` prints it (a test holds the two equal), so each can carry its own
dimension (the action, the error code) without a flush decorator. Written here
because ``single_metric`` builds and validates a metrics object per call: about
80 µs, the largest part of a ping's handler. Dimension values are drawn from fixed
sets, never from client input, to bound cardinality. No token, secret or message
text is ever logged at INFO.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Literal

from aws_lambda_powertools import Logger

__all__ = ["Unit", "count", "logger", "measure"]

logger = Logger()

Unit = Literal["Count", "Milliseconds"]


def count(name: str, *, dimension: tuple[str, str] | None = None) -> None:
    """Emit one Count metric, optionally with one dimension."""
    measure(name, 1, "Count", dimension=dimension)


def measure(
    name: str, value: float, unit: Unit, *, dimension: tuple[str, str] | None = None
) -> None:
    """Emit one metric, optionally with one dimension, in the namespace and with the
    ``service`` dimension Powertools takes from the environment."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
    if not namespace:
        raise ValueError("POWERTOOLS_METRICS_NAMESPACE must name the metrics' namespace")
    dimensions = dict([dimension]) if dimension is not None else {}
    service = os.environ.get("POWERTOOLS_SERVICE_NAME")
    if service:
        dimensions["service"] = service
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        **dimensions,
        name: [float(value)],
    }
    # CloudWatch reads EMF from the function's output, one JSON document per line.
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
