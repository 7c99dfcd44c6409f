"""How Lambda holds the chat function's reply jobs (template.yaml): a throttled job is
not held for hours, so it cannot wake up to answer a turn the user gave up on."""

from __future__ import annotations

from typing import Any

from local_stack.provisioning.template import load_template

TEMPLATE = load_template()


def _invoke_config() -> dict[str, Any]:
    (config,) = [
        r["Properties"]["EventInvokeConfig"]
        for r in TEMPLATE.of_type("AWS::Serverless::Function").values()
        if "EventInvokeConfig" in r["Properties"]
    ]
    return config


def test_a_reply_job_older_than_the_parameter_is_discarded_not_run() -> None:
    config = _invoke_config()
    assert config["MaximumEventAgeInSeconds"] == {"Ref": "ReplyMaxEventAgeSeconds"}
    parameter = TEMPLATE.parameters["ReplyMaxEventAgeSeconds"]
    # Lambda accepts 60 s to 6 h; two minutes by default
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (
        120,
        60,
        21600,
    )
    # and a discarded job is kept for the operator, never lost silently
    assert config["MaximumRetryAttempts"] == 0
    assert "OnFailure" in config["DestinationConfig"]
