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

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any, Literal

from aws_lambda_powertools import Logger

__all__ = ["Unit", "count", "logged_handler", "logger", "measure"]

logger = Logger()

Unit = Literal["Count", "Milliseconds"]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def logged_handler(handler: Handler) -> Handler:
    """Powertools' ``inject_lambda_context`` (the Lambda context and cold start on each
    line, state cleared between events, ``POWERTOOLS_LOGGER_LOG_EVENT`` honoured), with
    API Gateway's request id as the correlation id. The id is read directly: a
    ``correlation_id_path`` is a JMESPath search per event, about a fifth of a ping's
    handler. Events without one (a reply job) get none, as with the path."""

    @functools.wraps(handler)
    def correlated(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = event.get("requestContext") if isinstance(event, dict) else None
        logger.set_correlation_id(request.get("requestId") if isinstance(request, dict) else None)
        return handler(event, context)

    wrapped: Handler = logger.inject_lambda_context(clear_state=True)(correlated)
    return wrapped


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
    between = _emf_between(
        namespace, os.environ.get("POWERTOOLS_SERVICE_NAME"), name, unit, dimension
    )
    # CloudWatch reads EMF from the function's output, one JSON document per line.
    sys.stdout.write(
        f"{_EMF_START}{int(time.time() * 1000)}{between}{json.dumps(float(value))}]}}\n"
    )


_EMF_START = '{"_aws":{"Timestamp":'


@functools.lru_cache(maxsize=256)
def _emf_between(
    namespace: str, service: str | None, name: str, unit: Unit, dimension: tuple[str, str] | None
) -> str:
    """A metric's line between its timestamp and its value: the same for every emission
    of that metric, so it is serialized once (a ping's handler emits one metric; in a
    process just woken, serializing the whole document cost it about 70 µs)."""
    dimensions = dict([dimension]) if dimension is not None else {}
    if service:
        dimensions["service"] = service
    document = {
        "_aws": {
            "Timestamp": 0,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        **dimensions,
        name: [0.0],
    }
    line = json.dumps(document, separators=(",", ":"))
    start, end = f"{_EMF_START}0", "0.0]}"
    assert line.startswith(start) and line.endswith(end)  # noqa: S101 (json's own order)
    return line[len(start) : -len(end)]
