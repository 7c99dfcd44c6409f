"""The language model built from the AI routes: order, who retries, which key is needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_stack.ai_upstream.provider_server import ProviderServer, Scenario
from realtime_chat.ai_models import NoApiKey, routed_model
from realtime_chat.domain import Finished, PromptMessage
from realtime_chat.settings import ai_settings

PROMPT = [PromptMessage("user", "hi")]


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    with ProviderServer(scenario=Scenario(tokens=1)) as running:
        yield running


def test_a_route_followed_by_another_does_not_retry_the_next_route_is_the_retry(
    server: ProviderServer,
) -> None:
    # GIVEN two routes, retries allowed, and a first answer of 503
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AI_BASE_URL": server.url,
        "AI_ROUTES": "openai:first,openai:second",
        "AI_RETRIES": "2",
    }
    server.scenario.statuses = [503]
    # WHEN a turn is answered
    events = list(routed_model(ai_settings(env), "us-east-1").stream(PROMPT, api_key="k"))
    # THEN the second route answered, asked once, right after the first's one failure
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert (finished.provider, finished.model) == ("openai", "local/echo-1")
    assert [r["model"] for r in server.requests] == ["first", "second"]


def test_the_last_route_keeps_its_retries(server: ProviderServer) -> None:
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AI_BASE_URL": server.url,
        "AI_ROUTES": "openai:only",
        "AI_RETRIES": "1",
    }
    server.scenario.statuses = [503]
    events = list(routed_model(ai_settings(env), "us-east-1").stream(PROMPT, api_key="k"))
    assert isinstance(events[-1], Finished)
    assert [r["model"] for r in server.requests] == ["only", "only"]


def test_bedrock_only_deployments_need_no_key() -> None:
    assert NoApiKey().api_key() == "" and NoApiKey().api_key(refresh=True) == ""
