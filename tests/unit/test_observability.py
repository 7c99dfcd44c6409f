"""Our metric lines are CloudWatch EMF exactly as Powertools' ``single_metric`` prints
them, so dashboards and alarms built on them read them alike; our handler wrapper logs
what Powertools' own correlation path would."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from realtime_chat.observability import Unit, count, logged_handler, logger, measure


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


def _lines_logged(handler: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        for number, event in enumerate(events):
            context = SimpleNamespace(
                function_name="realtime-chat-Default",
                memory_limit_in_mb=512,
                invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:x",
                aws_request_id=f"request-{number}",
            )
            handler(event, context)
    finally:
        logger.registered_handler.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for line in lines:
        for varies in ("timestamp", "location", "cold_start"):  # cold_start: once a process
            line.pop(varies)
    return lines


def test_a_logged_handler_logs_what_powertools_correlation_path_would() -> None:
    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        logger.info("handled", extra={"step": event.get("step")})
        return {"statusCode": 200}

    theirs = logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
    )(handler)
    # GIVEN a frame from API Gateway, then an event without a request context (a reply job)
    frame = {"requestContext": {"requestId": "Kx1=", "routeKey": "ping"}, "step": 1}
    job = {"reply": {"conversationId": "c"}, "step": 2}
    # WHEN our handler wrapper and Powertools' correlation path each handle them
    ours_logged = _lines_logged(logged_handler(handler), [frame, job])
    theirs_logged = _lines_logged(theirs, [frame, job])
    # THEN the lines are the same: the request id as the correlation id, then none
    assert ours_logged == theirs_logged
    assert ours_logged[0]["correlation_id"] == "Kx1="
    assert ours_logged[1].get("correlation_id") is None
    assert ours_logged[1]["function_request_id"] == "request-1"
