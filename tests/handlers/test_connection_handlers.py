"""$connect authorizer, $connect and $disconnect through their real handler entry points."""

from __future__ import annotations

import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from realtime_chat.errors import KeysOutage, Unauthorized
from tests.conftest import LambdaContext, load_event
from tests.support.aws import CONNECTIONS_TABLE
from tests.support.tokens import USER_SUB, TokenFactory

Loader = Callable[[str], ModuleType]


def _item(client: Any, connection_id: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(
        TableName=CONNECTIONS_TABLE, Key={"connectionId": {"S": connection_id}}
    ).get("Item")
    return item


def test_a_valid_id_token_in_the_query_is_allowed_with_its_identity(
    load_handler: Loader, tokens: TokenFactory, lambda_context: LambdaContext
) -> None:
    # GIVEN the authorizer and a connect request with ?token=<ID token>
    authorizer = load_handler("authorizer")
    event = load_event("authorizer_query_token")
    token = tokens.id_token()
    event["queryStringParameters"]["token"] = token
    # WHEN it runs
    response = authorizer.lambda_handler(event, lambda_context)
    # THEN it allows this connect route and carries the identity as context
    assert response["principalId"] == USER_SUB
    (statement,) = response["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": event["methodArn"],
    }
    assert response["context"]["userId"] == USER_SUB
    assert response["context"]["userEmail"] == "ada@example.com"
    assert response["context"]["isAuthenticated"] is True


def test_an_access_token_in_a_bearer_header_is_allowed(
    load_handler: Loader, tokens: TokenFactory, lambda_context: LambdaContext
) -> None:
    authorizer = load_handler("authorizer")
    event = load_event("authorizer_bearer_header")
    event["headers"]["Authorization"] = f"Bearer {tokens.access_token()}"
    response = authorizer.lambda_handler(event, lambda_context)
    assert response["context"]["userId"] == USER_SUB
    assert response["context"]["userEmail"] == ""


def test_no_token_connects_as_anonymous(
    load_handler: Loader, lambda_context: LambdaContext
) -> None:
    response = load_handler("authorizer").lambda_handler(
        load_event("authorizer_anonymous"), lambda_context
    )
    assert response["context"] == {
        "userId": "anonymous",
        "userEmail": "",
        "isAuthenticated": False,
        "tokenExpiresAt": 0,
    }


def test_no_token_is_refused_when_anonymous_connections_are_off(
    load_handler: Loader, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOW_ANONYMOUS_CONNECTIONS", "false")
    authorizer = load_handler("authorizer")
    with pytest.raises(Unauthorized) as refused:
        authorizer.lambda_handler(load_event("authorizer_anonymous"), lambda_context)
    assert str(refused.value) == "Unauthorized"  # API Gateway's word for 401


def test_a_bad_token_is_refused_not_downgraded_to_anonymous(
    load_handler: Loader, tokens: TokenFactory, lambda_context: LambdaContext
) -> None:
    # GIVEN an expired token (Junokit silently made such users anonymous)
    authorizer = load_handler("authorizer")
    event = load_event("authorizer_query_token")
    event["queryStringParameters"]["token"] = tokens.id_token(exp=1_000_000_000)
    # WHEN the authorizer runs THEN API Gateway is told "Unauthorized" (HTTP 401)
    with pytest.raises(Unauthorized) as refused:
        authorizer.lambda_handler(event, lambda_context)
    assert str(refused.value) == "Unauthorized"  # API Gateway's word for 401


def test_a_key_endpoint_outage_fails_the_handshake_as_a_server_error(
    load_handler: Loader,
    tokens: TokenFactory,
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the pool's key endpoint is unreachable (nothing listens on that port)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/jwks.json"
    monkeypatch.setenv("JWKS_URL", dead)
    authorizer = load_handler("authorizer")
    event = load_event("authorizer_query_token")
    event["queryStringParameters"]["token"] = tokens.id_token()
    # WHEN a valid token arrives THEN the authorizer fails (API Gateway: 500), never
    # "Unauthorized" (401), which would tell the client its sign-in is bad
    with pytest.raises(KeysOutage) as failed:
        authorizer.lambda_handler(event, lambda_context)
    assert str(failed.value) != "Unauthorized"


def test_connect_stores_the_identity_with_a_two_hour_ttl(
    moto_aws: Any, load_handler: Loader, lambda_context: LambdaContext
) -> None:
    event = load_event("connect_with_token")
    response = load_handler("connect").lambda_handler(event, lambda_context)
    assert response == {"statusCode": 200}
    item = _item(moto_aws, "L0SM9cOFvHcCIhw=")
    assert item is not None
    connected_at = event["requestContext"]["connectedAt"]
    assert item["userId"] == {"S": "7d8e9f00-1111-4222-8333-944455556666"}
    assert item["userEmail"] == {"S": "ada@example.com"}
    assert item["isAuthenticated"] == {"BOOL": True}
    assert item["connectedAt"] == {"N": str(connected_at)}
    assert item["tokenExpiresAt"] == {"N": "4102444800"}
    assert item["ttl"] == {"N": str(connected_at // 1000 + 7200)}


def test_connect_stores_anonymous_connections_outside_the_user_index(
    moto_aws: Any, load_handler: Loader, lambda_context: LambdaContext
) -> None:
    # WHEN an anonymous connection is recorded
    load_handler("connect").lambda_handler(load_event("connect_anonymous"), lambda_context)
    # THEN it is stored, without a userId: the user index stays sparse, so anonymous
    # connects and disconnects never pile onto one "anonymous" partition of it
    item = _item(moto_aws, "L0SM9cOFvHcCIhw=")
    assert item is not None
    assert item["isAuthenticated"] == {"BOOL": False}
    assert "userId" not in item and "tokenExpiresAt" not in item
    indexed = moto_aws.scan(TableName=CONNECTIONS_TABLE, IndexName="userId-index")
    assert indexed["Count"] == 0


def _connect_as(
    connect: ModuleType, number: int, *, lambda_context: LambdaContext, anonymous: bool = False
) -> dict[str, Any]:
    event = load_event("connect_anonymous" if anonymous else "connect_with_token")
    event["requestContext"]["connectionId"] = f"conn-{number}="
    response: dict[str, Any] = connect.lambda_handler(event, lambda_context)
    return response


def test_a_user_past_the_connection_cap_is_refused_with_429(
    moto_aws: Any,
    load_handler: Loader,
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a cap of 2 connections per user, and one user with 2 open
    monkeypatch.setenv("MAX_CONNECTIONS_PER_USER", "2")
    connect = load_handler("connect")
    assert [_connect_as(connect, n, lambda_context=lambda_context) for n in (1, 2)] == [
        {"statusCode": 200}
    ] * 2
    # WHEN the same user opens a third
    third = _connect_as(connect, 3, lambda_context=lambda_context)
    # THEN it is refused with 429 and not stored
    assert third == {"statusCode": 429}
    assert _item(moto_aws, "conn-3=") is None
    # ... and once one closes, the next connect is accepted again
    disconnect_event = load_event("disconnect")
    disconnect_event["requestContext"]["connectionId"] = "conn-1="
    load_handler("disconnect").lambda_handler(disconnect_event, lambda_context)
    assert _connect_as(connect, 4, lambda_context=lambda_context) == {"statusCode": 200}
    # ... while anonymous connections are not a user's, and not capped
    anonymous = [
        _connect_as(connect, n, lambda_context=lambda_context, anonymous=True) for n in (5, 6, 7)
    ]
    assert anonymous == [{"statusCode": 200}] * 3


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),  # on the list
        ("https://app.example.com.evil.test", False),  # matched exactly, not by prefix
        ("http://app.example.com", False),  # another scheme is another origin
        (None, True),  # no Origin: a CLI or a server, not a browser
    ],
)
def test_browser_origins_outside_the_allow_list_are_refused_with_a_deny(
    load_handler: Loader,
    tokens: TokenFactory,
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    origin: str | None,
    allowed: bool,
) -> None:
    # GIVEN an allow-list of two origins
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com, https://admin.example.com/")
    authorizer = load_handler("authorizer")
    event = load_event("authorizer_query_token")
    event["queryStringParameters"]["token"] = tokens.id_token()
    event["headers"].pop("Origin")
    event["multiValueHeaders"].pop("Origin")
    if origin is not None:
        event["headers"]["origin"] = origin
    # WHEN a handshake comes with this Origin
    response = authorizer.lambda_handler(event, lambda_context)
    # THEN an allowed one gets the identity, another a Deny (API Gateway: 403), with
    # no identity attached
    (statement,) = response["policyDocument"]["Statement"]
    assert statement["Effect"] == ("Allow" if allowed else "Deny")
    assert ("context" in response) is allowed


def test_an_empty_allow_list_lets_every_origin_in(
    load_handler: Loader, tokens: TokenFactory, lambda_context: LambdaContext
) -> None:
    event = load_event("authorizer_query_token")
    event["queryStringParameters"]["token"] = tokens.id_token()
    event["headers"]["Origin"] = "https://anything.example"
    response = load_handler("authorizer").lambda_handler(event, lambda_context)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_disconnect_forgets_the_connection(
    moto_aws: Any, load_handler: Loader, lambda_context: LambdaContext
) -> None:
    load_handler("connect").lambda_handler(load_event("connect_with_token"), lambda_context)
    response = load_handler("disconnect").lambda_handler(load_event("disconnect"), lambda_context)
    assert response == {"statusCode": 200}
    assert _item(moto_aws, "L0SM9cOFvHcCIhw=") is None


def test_a_function_without_its_tables_fails_at_cold_start_naming_the_variable(
    load_handler: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realtime_chat.errors import ConfigurationError

    monkeypatch.delenv("CONNECTIONS_TABLE", raising=False)
    with pytest.raises(ConfigurationError, match="CONNECTIONS_TABLE"):
        load_handler("connect")
