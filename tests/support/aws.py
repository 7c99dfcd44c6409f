"""Helpers for tests that run against moto: tables from template.yaml, frames posted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote

import boto3

from local_stack.provisioning.template import load_template, table_definition

CONNECTIONS_TABLE = "test-connections"
CHAT_TABLE = "test-chat"
ACCOUNT = "123456789012"


def create_tables(client: Any) -> None:
    """Create both tables exactly as template.yaml defines them."""
    template = load_template()
    for logical_id, name in (("ConnectionsTable", CONNECTIONS_TABLE), ("ChatTable", CHAT_TABLE)):
        client.create_table(**table_definition(template, logical_id, name))


def put_connection(client: Any, connection_id: str, user: str, **extra: Any) -> None:
    """A signed-in user's live connection item, as ``$connect`` stores it."""
    item = {
        "connectionId": {"S": connection_id},
        "userId": {"S": user},
        "isAuthenticated": {"BOOL": True},
        "connectedAt": {"N": "1764100800000"},
        "ttl": {"N": "4102444800"},
        **extra,
    }
    client.put_item(TableName=CONNECTIONS_TABLE, Item=item)


def frames_answered(
    handler: Any, event: dict[str, Any], context: Any, connection_id: str
) -> list[dict[str, Any]]:
    """Run a message handler and return what its client receives, in order: the frames
    it posted, then (on a two-way route) the body it returned, which API Gateway sends
    after the function ends. Anything else than 200 with at most a body fails."""
    before = len(posted_frames(connection_id))
    response = dict(handler.lambda_handler(event, context))
    sent = posted_frames(connection_id)[before:]
    if "body" in response:
        sent.append(json.loads(response.pop("body")))
    assert response == {"statusCode": 200}
    return sent


def posted_frames(connection_id: str, region: str = "us-east-1") -> list[dict[str, Any]]:
    """Every frame the code posted to ``connection_id`` through moto's @connections."""
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    connections = apigatewaymanagementapi_backends[ACCOUNT][region].connections
    raw = b""
    for key in {connection_id, quote(connection_id, safe="")}:
        if key in connections:
            raw += connections[key].data
    decoder = json.JSONDecoder()
    text, frames, at = raw.decode("utf-8"), [], 0
    while at < len(text):
        frame, at = decoder.raw_decode(text, at)
        frames.append(frame)
    return frames


def clear_posted(region: str = "us-east-1") -> None:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    apigatewaymanagementapi_backends[ACCOUNT][region].connections.clear()


@contextmanager
def gateway_with_gone(gone: set[str]) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """@connections as AWS answers it, for clients created inside the block: 410 for the
    ids in ``gone`` (moto never says so), delivery recorded per id for the rest."""
    from botocore.awsrequest import AWSResponse

    delivered: dict[str, list[dict[str, Any]]] = {}

    def post(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        connection_id = unquote(params["url_path"].rsplit("/", 1)[-1])
        if connection_id in gone:
            error = {"Error": {"Code": "GoneException", "Message": "Gone"}}
            return AWSResponse("", 410, {}, None), {
                **error,
                "ResponseMetadata": {"HTTPStatusCode": 410},
            }
        delivered.setdefault(connection_id, []).append(json.loads(params["body"]))
        return AWSResponse("", 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200}}

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register(
        "before-call.apigatewaymanagementapi.PostToConnection", post
    )
    try:
        yield delivered
    finally:
        boto3.DEFAULT_SESSION = None
