"""Shared fixtures: a fake AWS environment, events from events/, handlers loaded by path."""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_stack.loopback import LoopbackServer, send_json
from local_stack.provisioning.dynamodb_fidelity import make_dynamodb_faithful
from tests.support import aws
from tests.support.tokens import CLIENT_ID, ISSUER, POOL_ID, TokenFactory

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reaches real AWS: fake credentials, no endpoint overrides."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "realtime-chat-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RealtimeChatTest")


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``events/<name>.json``."""
    return copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))


class LambdaContext:
    function_name = "test-function"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()


@pytest.fixture
def jwks_url(tokens: TokenFactory) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the test JWKS, as a user pool would."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            send_json(self, 200, tokens.jwks)

        def log_message(self, *args: Any) -> None:
            pass

    with LoopbackServer(Handler) as server:
        yield f"http://127.0.0.1:{server.port}/{POOL_ID}/.well-known/jwks.json"


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's in-process AWS with both tables created from template.yaml."""
    monkeypatch.setenv("CONNECTIONS_TABLE", aws.CONNECTIONS_TABLE)
    monkeypatch.setenv("CHAT_TABLE", aws.CHAT_TABLE)
    monkeypatch.setenv("API_SECRETS_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:ai")
    undo = make_dynamodb_faithful()  # atomic requests, as DynamoDB's: tests send concurrently
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            aws.create_tables(client)
            yield client
    finally:
        undo()


@pytest.fixture
def load_handler(monkeypatch: pytest.MonkeyPatch, jwks_url: str) -> Callable[[str], ModuleType]:
    """Import ``functions/<name>/app.py`` afresh, as a new Lambda container would."""
    monkeypatch.setenv("USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("USER_POOL_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("TOKEN_ISSUER", ISSUER)
    monkeypatch.setenv("JWKS_URL", jwks_url)

    def load(name: str) -> ModuleType:
        path = ROOT / "functions" / name / "app.py"
        spec = importlib.util.spec_from_file_location(f"function_{name}_app", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
