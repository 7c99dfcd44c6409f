"""Running the local stack with other settings: template parameters overridden as
`sam deploy --parameter-overrides` takes them, and POWERTOOLS_* passed through."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_stack.launcher import start_stack
from local_stack.provisioning.intrinsics import Resolver
from local_stack.provisioning.template import BadParameter, load_template, parameter_overrides
from local_stack.stack import function_specs


def test_overrides_are_read_as_sam_takes_them() -> None:
    template = load_template()
    assert parameter_overrides("LogLevel=DEBUG ChatMessagesPerMinute=5", template) == {
        "LogLevel": "DEBUG",
        "ChatMessagesPerMinute": "5",
    }
    assert parameter_overrides("", template) == {}
    # AND AI routes, whose models carry colons and slashes
    routes = "bedrock:anthropic.claude-3-haiku-20240307-v1:0,openai:local/echo-1"
    assert parameter_overrides(f"AiRoutes={routes}", template) == {"AiRoutes": routes}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Nope=1", "not Name=Value for a template parameter"),
        ("LogLevel", "not Name=Value"),
        ("LogLevel=LOUD", "LogLevel must be one of DEBUG, INFO, WARNING, ERROR"),
        ("ChatMessagesPerMinute=-1", "ChatMessagesPerMinute must be between"),
        ("ChatMessagesPerMinute=many", "must be a number"),
        ("AiRoutes=azure:gpt-4o", "AiRoutes must match"),
    ],
)
def test_an_override_the_template_would_refuse_is_refused_with_why(text: str, says: str) -> None:
    with pytest.raises(BadParameter, match=says):
        parameter_overrides(text, load_template())


def test_overrides_and_powertools_settings_reach_every_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    template = load_template()
    resolver = Resolver(
        template,
        region="us-east-1",
        stack_name="local",
        resources={k: k for k in template.resources},
        parameters={"ChatMessagesPerMinute": "3", "AiRoutes": "bedrock:local/echo-1"},
    )
    specs = {s.logical_id: s for s in function_specs(template, resolver, {})}
    assert specs["MessageFunction"].environment["CHAT_MESSAGES_PER_MINUTE"] == "3"
    assert specs["ReplyFunction"].environment["AI_ROUTES"] == "bedrock:local/echo-1"
    assert all(s.environment["POWERTOOLS_LOG_LEVEL"] == "DEBUG" for s in specs.values())


def test_make_run_refuses_a_bad_override_in_one_line_before_starting(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as failed:
        start_stack(tmp_path, PARAMETER_OVERRIDES="LogLevel=LOUD")
    message = str(failed.value)
    assert "make run: LogLevel must be one of" in message
    assert "Traceback" not in message
