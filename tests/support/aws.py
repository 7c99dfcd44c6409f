"""Helpers for tests that run against moto: tables from template.yaml, frames posted."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from local_stack.template import load_template, table_definition

CONNECTIONS_TABLE = "test-connections"
CHAT_TABLE = "test-chat"
ACCOUNT = "123456789012"


def create_tables(client: Any) -> None:
    """Create both tables exactly as template.yaml defines them."""
    template = load_template()
    for logical_id, name in (("ConnectionsTable", CONNECTIONS_TABLE), ("ChatTable", CHAT_TABLE)):
        client.create_table(**table_definition(template, logical_id, name))


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
