"""API Gateway WebSocket event shapes, as the real service builds them (see events/)."""

from __future__ import annotations

import base64
import functools
import os
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "RequestFacts",
    "authorizer_event",
    "connect_event",
    "disconnect_event",
    "message_event",
    "new_connection_id",
    "new_request_id",
]


def new_connection_id() -> str:
    """API Gateway's shape: 16 base64 characters, often ending in '='."""
    while True:
        candidate = base64.b64encode(os.urandom(11)).decode()
        if "/" not in candidate:
            return candidate


def new_request_id() -> str:
    return base64.b64encode(os.urandom(11)).decode().replace("/", "_")


class RequestFacts:
    """What every event of one connection shares."""

    def __init__(
        self,
        *,
        connection_id: str,
        domain: str,
        stage: str,
        api_id: str,
        source_ip: str,
        user_agent: str,
    ) -> None:
        self.connection_id = connection_id
        self.domain = domain
        self.stage = stage
        self.api_id = api_id
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.connected_at = int(time.time() * 1000)


@functools.lru_cache(maxsize=1)
def _request_time(second: int) -> str:
    """API Gateway's CLF-style ``requestTime``, made once a second (a ping's path is short)."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))


def _context(
    facts: RequestFacts, route_key: str, event_type: str, request_id: str
) -> dict[str, Any]:
    now = time.time()
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": _request_time(int(now)),
        "messageDirection": "IN",
        "stage": facts.stage,
        "connectedAt": facts.connected_at,
        "requestTimeEpoch": int(now * 1000),
        "identity": {"sourceIp": facts.source_ip, "userAgent": facts.user_agent},
        "requestId": request_id,
        "domainName": facts.domain,
        "connectionId": facts.connection_id,
        "apiId": facts.api_id,
    }


def _headers(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> dict[str, Any]:
    flat = {k: v for k, v in headers.items()}
    multi: dict[str, list[str]] = {}
    for k, v in headers.items():
        multi.setdefault(k, []).append(v)
    event: dict[str, Any] = {"headers": flat, "multiValueHeaders": multi}
    if query:  # absent, not empty, when there is no query string
        event["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
        event["multiValueQueryStringParameters"] = {k: list(v) for k, v in query.items()}
    return event


def authorizer_event(
    facts: RequestFacts, request_id: str, headers: Mapping[str, str], query: Mapping[str, list[str]]
) -> dict[str, Any]:
    context = _context(facts, "$connect", "CONNECT", request_id)
    arn = f"arn:aws:execute-api:local:123456789012:{facts.api_id}/{facts.stage}/$connect"
    return {
        "type": "REQUEST",
        "methodArn": arn,
        **_headers(headers, query),
        "stageVariables": {},
        "requestContext": context,
    }


def connect_event(
    facts: RequestFacts,
    request_id: str,
    headers: Mapping[str, str],
    query: Mapping[str, list[str]],
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    context = _context(facts, "$connect", "CONNECT", request_id)
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {**_headers(headers, query), "requestContext": context, "isBase64Encoded": False}


def message_event(
    facts: RequestFacts, route_key: str, body: str, authorizer: dict[str, Any] | None
) -> dict[str, Any]:
    request_id = new_request_id()
    context = _context(facts, route_key, "MESSAGE", request_id)
    context["messageId"] = new_request_id()
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(
    facts: RequestFacts, status_code: int, reason: str, authorizer: dict[str, Any] | None
) -> dict[str, Any]:
    context = _context(facts, "$disconnect", "DISCONNECT", new_request_id())
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    if authorizer is not None:
        context["authorizer"] = authorizer
    headers = {"Host": facts.domain, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }
