"""Posting through @connections: 410 and 429 become the library's own errors (botocore Stubber,
since moto never raises GoneException)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient as Client

from realtime_chat.adapters.apigateway_sender import ApiGatewaySender
from realtime_chat.errors import ConnectionGone, ConnectionThrottled, FrameTooLarge


@pytest.fixture
def client() -> Client:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url="https://abc.execute-api.us-east-1.amazonaws.com/prod",
        region_name="us-east-1",
    )


def test_a_frame_is_posted_as_compact_utf8_json(client: Client) -> None:
    frame = {"type": "pong", "note": "héllo"}
    with Stubber(client) as stub:
        stub.add_response(
            "post_to_connection",
            {},
            {
                "ConnectionId": "L0SM9cOFvHcCIhw=",
                "Data": json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode(),
            },
        )
        ApiGatewaySender(client).send("L0SM9cOFvHcCIhw=", frame)
        stub.assert_no_pending_responses()


def test_gone_becomes_connection_gone(client: Client) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", "GoneException", http_status_code=410)
        with pytest.raises(ConnectionGone) as gone:
            ApiGatewaySender(client).send("abc=", {"type": "pong"})
    assert gone.value.connection_id == "abc="


def test_throttling_is_retried_with_backoff(client: Client) -> None:
    slept: list[float] = []
    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", "LimitExceededException", http_status_code=429)
        stub.add_client_error("post_to_connection", "LimitExceededException", http_status_code=429)
        stub.add_response("post_to_connection", {})
        ApiGatewaySender(client, sleep=slept.append).send("abc=", {"type": "pong"})
        stub.assert_no_pending_responses()
    assert slept == [0.05, 0.1]


def test_persistent_throttling_gives_up_with_connection_throttled(client: Client) -> None:
    with Stubber(client) as stub:
        for _ in range(5):
            stub.add_client_error(
                "post_to_connection", "LimitExceededException", http_status_code=429
            )
        with pytest.raises(ConnectionThrottled):
            ApiGatewaySender(client, sleep=lambda _s: None).send("abc=", {"type": "pong"})


def test_a_frame_over_the_post_limit_becomes_frame_too_large(client: Client) -> None:
    with Stubber(client) as stub:
        stub.add_client_error(
            "post_to_connection", "PayloadTooLargeException", http_status_code=413
        )
        with pytest.raises(FrameTooLarge):
            ApiGatewaySender(client).send("abc=", {"type": "pong"})


def test_other_errors_are_not_swallowed(client: Client) -> None:
    from botocore.exceptions import ClientError

    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", "ForbiddenException", http_status_code=403)
        with pytest.raises(ClientError):
            ApiGatewaySender(client).send("abc=", {"type": "pong"})
