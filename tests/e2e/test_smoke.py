"""`make smoke` against the local stack: the same steps CI runs after each deploy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from local_stack.launcher import Stack, start_stack
from local_stack.tools.smoke import SmokeFailed, Target, run_smoke, samconfig_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The key is read at every reply, so emptying the secret shows at once.
    running = start_stack(
        tmp_path_factory.mktemp("smoke"), PARAMETER_OVERRIDES="SecretCacheSeconds=0"
    )
    yield running
    running.stop()


def _target(stack: Stack) -> Target:
    user = stack.state["demoUser"]
    return Target(
        websocket_url=stack.url,
        region=stack.state["region"],
        user_pool_client_id=stack.state["userPoolClientId"],
        username=user["username"],
        password=user["password"],
        cognito_endpoint=stack.state["awsEndpointUrl"],
    )


def _set_key(stack: Stack, key: str) -> None:
    stack.aws("secretsmanager").put_secret_value(
        SecretId=stack.state["secretId"], SecretString=json.dumps({"apiKey": key})
    )


def _conversations(stack: Stack) -> list[str]:
    from websockets.sync.client import connect

    with connect(f"{stack.url}?token={stack.tokens()['idToken']}") as ws:
        ws.send(json.dumps({"action": "list_conversations", "data": {"limit": 100}}))
        return [c["conversationId"] for c in json.loads(ws.recv(timeout=10))["conversations"]]


def test_the_smoke_test_passes_against_a_whole_stack_and_leaves_nothing(stack: Stack) -> None:
    said: list[str] = []
    asyncio.run(run_smoke(_target(stack), say=said.append))
    assert [line.split()[1] for line in said] == [
        "anonymous:",
        "signed",
        "chat",
        "chat_history",
        "cleaned",
    ]
    assert _conversations(stack) == []  # its conversation was deleted


def test_a_missing_ai_key_fails_the_smoke_test_saying_where_the_key_goes(stack: Stack) -> None:
    _set_key(stack, "")
    try:
        with pytest.raises(SmokeFailed, match="AI_NOT_CONFIGURED") as failure:
            asyncio.run(run_smoke(_target(stack), say=lambda _: None))
        assert "put-secret-value" in str(failure.value)
        assert _conversations(stack) == []  # cleaned up even so
    finally:
        _set_key(stack, "local-model-accepts-any-key")


def test_samconfig_names_a_stack_and_region_for_every_ci_environment() -> None:
    assert samconfig_stack("dev") == ("realtime-chat-dev", "us-east-1")
    assert samconfig_stack("prod") == ("realtime-chat-prod", "us-east-1")
    with pytest.raises(SmokeFailed, match="no environment"):
        samconfig_stack("staging")


def test_the_smoke_test_passes_when_the_stack_refuses_anonymous_connections(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # GIVEN a stack configured as prod is (AllowAnonymousConnections=false)
    running = start_stack(
        tmp_path_factory.mktemp("smoke-prod"),
        PARAMETER_OVERRIDES="AllowAnonymousConnections=false",
    )
    try:
        # WHEN the smoke test runs against it
        said: list[str] = []
        asyncio.run(run_smoke(_target(running), say=said.append))
    finally:
        running.stop()
    # THEN the refused anonymous handshake counts as a pass, and the user steps all ran
    assert said[0].startswith("ok  anonymous: handshake refused with 401")
    assert [line.split()[1] for line in said[1:]] == ["signed", "chat", "chat_history", "cleaned"]
