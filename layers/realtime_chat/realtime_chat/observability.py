"""Structured logs and EMF metrics (Powertools), shared by every function.

Metrics go out one at a time with ``single_metric`` so each can carry its own
dimension (the action, the error code) without a flush decorator. Dimension
values are drawn from fixed sets, never from client input, to bound cardinality.
No token, secret or message text is ever logged at INFO.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

__all__ = ["count", "logger", "measure"]

logger = Logger()


def count(name: str, *, dimension: tuple[str, str] | None = None) -> None:
    """Emit one Count metric, optionally with one dimension."""
    measure(name, 1, MetricUnit.Count, dimension=dimension)


def measure(
    name: str, value: float, unit: MetricUnit, *, dimension: tuple[str, str] | None = None
) -> None:
    """Emit one metric of any unit, optionally with one dimension."""
    with single_metric(name=name, unit=unit, value=value) as metric:
        if dimension is not None:
            metric.add_dimension(name=dimension[0], value=dimension[1])
