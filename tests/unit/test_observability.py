"""Our metric lines are CloudWatch EMF exactly as Powertools' ``single_metric`` prints
them, so dashboards and alarms built on them read them alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from realtime_chat.observability import Unit, count, measure


def _without_time(line: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(line)
    assert isinstance(document["_aws"].pop("Timestamp"), int)
    return document


@pytest.mark.parametrize("service", ["realtime-chat", None])
@pytest.mark.parametrize("dimension", [None, ("code", "RATE_LIMITED")])
@pytest.mark.parametrize(("unit", "value"), [("Count", 1), ("Milliseconds", 12.5)])
def test_a_metric_line_equals_the_one_powertools_prints(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    service: str | None,
    dimension: tuple[str, str] | None,
    unit: Unit,
    value: float,
) -> None:
    # GIVEN the namespace and (maybe) the service from the environment, as deployed
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RealtimeChat")
    if service is None:
        monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    else:
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", service)
    capsys.readouterr()
    # WHEN we emit a metric, and Powertools emits the same one
    measure("ErrorsSent", value, unit, dimension=dimension)
    ours = capsys.readouterr().out
    with single_metric(name="ErrorsSent", unit=MetricUnit(unit), value=value) as metric:
        if dimension is not None:
            metric.add_dimension(name=dimension[0], value=dimension[1])
    theirs = capsys.readouterr().out
    # THEN each is one line, and they say the same (the timestamps aside)
    assert ours.count("\n") == theirs.count("\n") == 1
    assert _without_time(ours) == _without_time(theirs)


def test_a_missing_namespace_is_an_error_that_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CloudWatch would drop a metric without a namespace; Powertools refuses too.
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    with pytest.raises(ValueError, match="POWERTOOLS_METRICS_NAMESPACE"):
        count("MessagesReceived")
