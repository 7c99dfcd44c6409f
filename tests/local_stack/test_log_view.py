"""The local stack's readable log view: one short line per event, metrics only when they
name an outcome, anything else passed through."""

from __future__ import annotations

import io
import json

from local_stack.log_view import ReadableOutput, format_line


def test_a_powertools_line_becomes_one_short_line_with_its_extras() -> None:
    line = json.dumps(
        {
            "level": "WARNING",
            "location": "x:1",
            "message": "model unavailable",
            "timestamp": "2026-11-25 20:00:00,000+0000",
            "service": "realtime-chat",
            "cold_start": False,
            "function_request_id": "r",
            "reason": "provider answered 503",
        }
    )
    shown = format_line("MessageFunction", line)
    assert shown is not None
    assert shown.endswith(
        "MessageFunction    WARNING model unavailable  reason=provider answered 503"
    )


def test_metrics_are_dropped_unless_they_name_an_outcome() -> None:
    def emf(name: str, **dimensions: str) -> str:
        return json.dumps(
            {
                "_aws": {
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "n",
                            "Dimensions": [[*dimensions, "service"]],
                            "Metrics": [{"Name": name, "Unit": "Count"}],
                        }
                    ]
                },
                **dimensions,
                "service": "s",
                name: [1.0],
            }
        )

    assert format_line("DefaultFunction", emf("MessagesReceived", action="ping")) is None
    shown = format_line("DefaultFunction", emf("ErrorsSent", code="RATE_LIMITED"))
    assert shown is not None and shown.endswith("ErrorsSent code=RATE_LIMITED")


def test_anything_else_passes_through_line_by_line() -> None:
    target = io.StringIO()
    out = ReadableOutput("F", target)
    out.write("Traceback (most recent call last):\n  File")
    out.write(' "x"\n')
    assert target.getvalue() == 'Traceback (most recent call last):\n  File "x"\n'
