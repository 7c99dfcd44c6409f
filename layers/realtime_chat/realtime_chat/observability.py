"""Structured logs and metrics, through Powertools, shared by every function.

Each metric goes out on its own through Powertools' ``single_metric`` (one CloudWatch
embedded-metric-format line), so each can carry its own dimension (the action, the
error code) without a flush decorator; namespace and ``service`` dimension come from
``POWERTOOLS_METRICS_NAMESPACE`` and ``POWERTOOLS_SERVICE_NAME``. Dimension values
are drawn from fixed sets, never from client input, to bound cardinality. No token,
secret or message text is ever logged at INFO.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

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
    ``service`` dimension Powertools takes from the environment. Powertools raises
    ``SchemaValidationError`` when no namespace is set."""
    with single_metric(name=name, unit=MetricUnit(unit), value=value) as metric:
        if dimension is not None:
            metric.add_dimension(name=dimension[0], value=dimension[1])
