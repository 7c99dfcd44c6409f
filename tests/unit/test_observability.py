"""Our metrics reach CloudWatch with the names and dimensions the template's alarms
read; our handler wrapper logs what Powertools' own correlation path would."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.logging import correlation_paths

from realtime_chat.observability import count, logged_handler, logger, measure
from tests.support.templates import ROOT, cfn_template, resources

TEMPLATE = cfn_template(ROOT / "template.yaml")
ENVIRONMENT = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
STACK = "realtime-chat-dev"  # what AWS::StackName stands for in the template


def _our_alarms() -> dict[str, dict[str, Any]]:
    """The template's alarms on a metric of our namespace, by logical id."""
    alarms = {k: a["Properties"] for k, a in resources(TEMPLATE, "AWS::CloudWatch::Alarm").items()}
    ours = {k: a for k, a in alarms.items() if a.get("Namespace") == "RealtimeChat"}
    assert ours, "no alarm reads our metrics: the test reads the wrong template"
    return ours


def _emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines  # CloudWatch reads one JSON document per line
    document: dict[str, Any] = json.loads(lines[0])
    return document


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The namespace and service from the environment, as the template sets them."""
    assert ENVIRONMENT["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"])
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", STACK)


@pytest.mark.parametrize("alarm", sorted(_our_alarms()))
def test_each_alarm_on_our_namespace_reads_a_metric_we_emit_with_exactly_its_dimensions(
    capsys: pytest.CaptureFixture[str], deployed: None, alarm: str
) -> None:
    # GIVEN an alarm of the template on one of our metrics
    properties = _our_alarms()[alarm]
    wanted = {d["Name"]: d["Value"] for d in properties["Dimensions"]}
    assert wanted.pop("service") == {"Ref": "AWS::StackName"}
    assert len(wanted) <= 1  # our metrics carry at most one dimension besides service
    capsys.readouterr()
    # WHEN the code counts that metric, with the alarm's other dimension if it has one
    count(properties["MetricName"], dimension=next(iter(wanted.items()), None))
    document = _emitted(capsys)
    # THEN CloudWatch files it under the alarm's namespace, name and dimension set
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == properties["Namespace"]
    assert [m["Name"] for m in directive["Metrics"]] == [properties["MetricName"]]
    (dimensions,) = directive["Dimensions"]
    assert set(dimensions) == {*wanted, "service"}
    assert {name: document[name] for name in dimensions} == wanted | {"service": STACK}


def test_a_measure_keeps_its_unit_and_value(
    capsys: pytest.CaptureFixture[str], deployed: None
) -> None:
    capsys.readouterr()
    measure("AiFirstTokenTime", 412.5, "Milliseconds")
    document = _emitted(capsys)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Metrics"] == [{"Name": "AiFirstTokenTime", "Unit": "Milliseconds"}]
    assert directive["Dimensions"] == [["service"]]
    assert document["AiFirstTokenTime"] == [412.5]
    assert isinstance(document["_aws"]["Timestamp"], int)


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
