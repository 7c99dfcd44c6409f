"""The composition root: builds each function's entry point with real adapters, once
per container. Each builder imports only what its function needs, so the authorizer
never loads boto3 and no function but ``chat_message`` loads the HTTP client.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from realtime_chat.entrypoints import Authorizer, Connector, Disconnector, FrameHandler
from realtime_chat.settings import ChatSettings, auth_settings, chat_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from realtime_chat.events import MessageRequest
    from realtime_chat.ports import FrameSender

__all__ = [
    "build_authorizer",
    "build_connect",
    "build_default",
    "build_disconnect",
    "sender_factory",
]


def build_authorizer(env: Mapping[str, str] = os.environ) -> Authorizer:
    from realtime_chat.adapters.cognito_jwt import CognitoJwtVerifier
    from realtime_chat.adapters.jwks import JwksCache

    settings = auth_settings(env)
    verifier = CognitoJwtVerifier(
        issuer=settings.issuer, client_id=settings.client_id, jwks=JwksCache(settings.jwks_url)
    )
    return Authorizer(verifier=verifier, allow_anonymous=settings.allow_anonymous)


def _dynamodb(settings: ChatSettings) -> DynamoDBClient:
    import boto3

    return boto3.client("dynamodb", region_name=settings.region)


def build_connect(env: Mapping[str, str] = os.environ) -> Connector:
    from realtime_chat.adapters.dynamodb_connections import DynamoConnectionStore

    settings = chat_settings(env)
    store = DynamoConnectionStore(_dynamodb(settings), settings.connections_table)
    return Connector(connections=store, allow_anonymous=settings.allow_anonymous)


def build_disconnect(env: Mapping[str, str] = os.environ) -> Disconnector:
    from realtime_chat.adapters.dynamodb_connections import DynamoConnectionStore

    settings = chat_settings(env)
    return Disconnector(
        connections=DynamoConnectionStore(_dynamodb(settings), settings.connections_table)
    )


def sender_factory(
    settings: ChatSettings, *, make_client: Callable[[str], Any] | None = None
) -> Callable[[MessageRequest], FrameSender]:
    """One ``@connections`` client per endpoint, created on first use and kept."""
    from realtime_chat.adapters.apigateway_sender import ApiGatewaySender

    def default_client(url: str) -> Any:
        import boto3

        return boto3.client(
            "apigatewaymanagementapi", endpoint_url=url, region_name=settings.region
        )

    build = make_client or default_client

    @lru_cache(maxsize=8)
    def for_url(url: str) -> FrameSender:
        return ApiGatewaySender(build(url))

    def sender_for(request: MessageRequest) -> FrameSender:
        return for_url(settings.callback_url or request.info.callback_url)

    return sender_for


def build_default(env: Mapping[str, str] = os.environ) -> FrameHandler:
    """Every action but ``chat_message``."""
    from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
    from realtime_chat.adapters.dynamodb_connections import DynamoConnectionStore
    from realtime_chat.dispatch import Dispatcher
    from realtime_chat.routes import default_routes

    settings = chat_settings(env)
    client = _dynamodb(settings)
    connections = DynamoConnectionStore(client, settings.connections_table)
    routes = default_routes(
        settings=settings,
        chat=DynamoChatStore(client, settings.chat_table),
        connections=connections,
    )
    dispatcher = Dispatcher(
        routes, sender_for=sender_factory(settings), connections=connections, clock=time.time
    )
    return FrameHandler(dispatcher)
