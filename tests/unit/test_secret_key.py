"""The AI key from Secrets Manager (moto): cached for ``max_age`` seconds on an injected
clock, read again on request, and its two kinds of failure kept apart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from realtime_chat.adapters.secret_key import SecretApiKey
from realtime_chat.errors import AiNotConfigured, SecretUnavailable


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


@pytest.fixture
def secrets(moto_aws: Any) -> Any:
    return boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def secret_id(secrets: Any) -> str:
    arn: str = secrets.create_secret(Name="ai", SecretString=json.dumps({"apiKey": "sk-1"}))["ARN"]
    return arn


def _rotate(secrets: Any, secret_id: str, key: str) -> None:
    secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"apiKey": key}))


def _answer_with(secrets: Any, code: str, status: int = 400) -> None:
    """Secrets Manager answers GetSecretValue with ``code`` from now on (as AWS would:
    an HTTP error inside botocore, so its own retries apply)."""
    body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()

    def answer(request: Any, **_: Any) -> AWSResponse:
        request.url = "https://fault.invalid/"
        return AWSResponse("https://secretsmanager.local/", status, {}, _Body(body))

    secrets.meta.events.register_first("before-send.secrets-manager.GetSecretValue", answer)


def test_a_cached_key_is_read_again_once_it_is_older_than_max_age(
    secrets: Any, secret_id: str
) -> None:
    # GIVEN a key cached for 300 s
    now = [1000.0]
    keys = SecretApiKey(lambda: secrets, secret_id, max_age=300, clock=lambda: now[0])
    assert keys.api_key() == "sk-1"
    # WHEN the secret is rotated
    _rotate(secrets, secret_id, "sk-2")
    # THEN the cached key serves until its age reaches max_age, then the new one is read
    now[0] += 299
    assert keys.api_key() == "sk-1"
    now[0] += 1
    assert keys.api_key() == "sk-2"


def test_a_refresh_reads_the_secret_at_once_and_later_reads_keep_the_new_key(
    secrets: Any, secret_id: str
) -> None:
    now = [1000.0]
    keys = SecretApiKey(lambda: secrets, secret_id, max_age=300, clock=lambda: now[0])
    assert keys.api_key() == "sk-1"
    _rotate(secrets, secret_id, "sk-2")
    assert keys.api_key(refresh=True) == "sk-2"
    _rotate(secrets, secret_id, "sk-3")
    assert keys.api_key() == "sk-2"  # cached from the refresh


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "ResourceNotFoundException", "DecryptionFailure"]
)
def test_a_secret_this_function_may_not_read_is_not_configured_not_an_outage(
    secrets: Any, secret_id: str, code: str
) -> None:
    # GIVEN Secrets Manager refuses the read for a reason no retry can change
    _answer_with(secrets, code)
    keys = SecretApiKey(lambda: secrets, secret_id, max_age=300)
    # WHEN the key is asked for THEN an operator must act: not configured, never retryable
    with pytest.raises(AiNotConfigured) as refused:
        keys.api_key()
    assert code in str(refused.value)
    assert secret_id not in refused.value.public
    assert "An operator must put" in refused.value.public


def test_a_throttling_secrets_manager_is_an_outage(secrets: Any, secret_id: str) -> None:
    _answer_with(secrets, "ThrottlingException")
    keys = SecretApiKey(lambda: secrets, secret_id, max_age=300)
    with pytest.raises(SecretUnavailable):
        keys.api_key()
