"""The composition root: builds each function's entry point with real adapters, once
per container. Each builder imports only what its function needs: the authorizer
never loads boto3, and ``requests`` loads only when ``chat_message`` first streams a reply.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from realtime_chat.entrypoints import (
    Authorizer,
    ChatFunction,
    Connector,
    Disconnector,
    FrameHandler,
)
from realtime_chat.settings import ChatSettings, ai_settings, auth_settings, chat_settings

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from realtime_chat.model import ReplyJob
    from realtime_chat.ports import ApiKeySource, ChatModel, FrameSender
    from realtime_chat.usecases.reply import Reply

__all__ = [
    "LOCAL_ENDPOINTS",
    "ApiGatewaySenders",
    "build_authorizer",
    "build_connect",
    "build_default",
    "build_disconnect",
    "build_message",
    "dynamodb_config",
]

# `sam local invoke` runs a function in Docker with only the variables the template
# declares. These two are declared empty (AWS ignores them) so the env-vars file
# `make run` writes can point boto3 at the local stack; boto3 reads the standard
# names, which an empty value would break in AWS.
LOCAL_ENDPOINTS = {
    "LOCAL_AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL",
    "LOCAL_LAMBDA_ENDPOINT_URL": "AWS_ENDPOINT_URL_LAMBDA",
}


def _use_local_endpoints(env: MutableMapping[str, str] = os.environ) -> None:
    for local, standard in LOCAL_ENDPOINTS.items():
        if env.get(local):
            env.setdefault(standard, env[local])


_use_local_endpoints()


def build_authorizer(env: Mapping[str, str] = os.environ) -> Authorizer:
    from realtime_chat.adapters.cognito_jwt import CognitoJwtVerifier
    from realtime_chat.adapters.jwks import JwksCache

    settings = auth_settings(env)
    verifier = CognitoJwtVerifier(
        issuer=settings.issuer, client_id=settings.client_id, jwks=JwksCache(settings.jwks_url)
    )
    return Authorizer(
        verifier=verifier,
        allow_anonymous=settings.allow_anonymous,
        allowed_origins=settings.allowed_origins,
    )


def dynamodb_config(*, streaming: bool = False) -> Config:
    """How a function's DynamoDB client retries and times out.

    Throttling and 5xx are retried on DynamoDB's own schedule (50, 100, 200 ms): a
    request that still fails gives up in well under a second, inside API Gateway's
    29 s, and the client is told to retry. botocore's default mode waits up to ~6 s.
    ``streaming``: a reply's client. Its checkpoints and connection reads run between
    its chunks, on the thread that sends them, so a hung request holds the answer and
    its stop: three attempts of at most 1 s each (about 3 s in all), not five of 5 s.
    """
    from botocore.config import Config

    if streaming:
        return Config(
            retries={"mode": "legacy", "total_max_attempts": 3},
            connect_timeout=1,
            read_timeout=1,
        )
    return Config(retries={"mode": "legacy", "max_attempts": 4}, connect_timeout=2, read_timeout=5)


def _dynamodb(settings: ChatSettings, *, streaming: bool = False) -> DynamoDBClient:
    import boto3

    config = dynamodb_config(streaming=streaming)
    return boto3.client("dynamodb", region_name=settings.region, config=config)


def _secrets(settings: ChatSettings) -> SecretsManagerClient:
    import boto3
    from botocore.config import Config

    # Short timeouts: a reply waits on this before its first token.
    config = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 3})
    return boto3.client("secretsmanager", region_name=settings.region, config=config)


def build_connect(env: Mapping[str, str] = os.environ) -> Connector:
    from realtime_chat.adapters.dynamodb_connections import DynamoConnectionStore

    settings = chat_settings(env)
    store = DynamoConnectionStore(_dynamodb(settings), settings.connections_table)
    return Connector(
        connections=store,
        allow_anonymous=settings.allow_anonymous,
        max_per_user=settings.max_connections_per_user,
    )


def build_disconnect(env: Mapping[str, str] = os.environ) -> Disconnector:
    from realtime_chat.adapters.dynamodb_connections import DynamoConnectionStore

    settings = chat_settings(env)
    return Disconnector(
        connections=DynamoConnectionStore(_dynamodb(settings), settings.connections_table)
    )


class _OnFirstUse:
    """Stands for an object made by ``make`` when first used, once, by any thread."""

    def __init__(self, make: Callable[[], object]) -> None:
        self._make = make
        self._made: object | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return getattr(self._made, name)


class ApiGatewaySenders:
    """One ``@connections`` client per endpoint, created on first use and kept."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._senders: dict[str, FrameSender] = {}

    def at(self, callback_url: str) -> FrameSender:
        import boto3

        from realtime_chat.adapters.apigateway_sender import ApiGatewaySender

        sender = self._senders.get(callback_url)
        if sender is None:
            client = boto3.client(
                "apigatewaymanagementapi", endpoint_url=callback_url, region_name=self._region
            )
            sender = self._senders[callback_url] = ApiGatewaySender(client)
        return sender


def build_default(env: Mapping[str, str] = os.environ) -> FrameHandler:
    """Every action but ``chat_message``."""
    from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
    from realtime_chat.adapters.dynamodb_connections import DynamoConnectionStore
    from realtime_chat.dispatch import Dispatcher
    from realtime_chat.routes import default_routes

    settings = chat_settings(env)
    # Most of this function's events are pings and debug_status, which read nothing:
    # its DynamoDB client is made when an action first needs it, not at cold start.
    client = cast("DynamoDBClient", _OnFirstUse(lambda: _dynamodb(settings)))
    connections = DynamoConnectionStore(client, settings.connections_table)
    routes = default_routes(
        settings=settings,
        chat=DynamoChatStore(client, settings.chat_table),
        connections=connections,
    )
    dispatcher = Dispatcher(
        routes,
        senders=ApiGatewaySenders(settings.region),
        connections=connections,
        clock=time.time,
        callback_url=settings.callback_url,
    )
    return FrameHandler(dispatcher)


def build_message(env: Mapping[str, str] = os.environ) -> ChatFunction:
    """``chat_message``: accepts the message, then streams the reply as its own async job."""
    import boto3

    from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
    from realtime_chat.adapters.dynamodb_connections import DynamoConnectionStore
    from realtime_chat.adapters.dynamodb_rate_limit import DynamoRateLimiter
    from realtime_chat.adapters.lambda_jobs import LambdaReplyJobs
    from realtime_chat.adapters.secret_key import SecretApiKey
    from realtime_chat.dispatch import Dispatcher
    from realtime_chat.protocol import ChatMessage, EditMessage, RegenerateReply
    from realtime_chat.routes import authenticated
    from realtime_chat.usecases.chat import accept_message
    from realtime_chat.usecases.reply import generate_reply
    from realtime_chat.usecases.versions import edit_message, regenerate_reply

    settings = chat_settings(env)
    ai = ai_settings(env)
    model_ids = tuple(m.id for m in settings.models)
    client = _dynamodb(settings)
    connections = DynamoConnectionStore(client, settings.connections_table)
    chat = DynamoChatStore(client, settings.chat_table)
    senders = ApiGatewaySenders(settings.region)
    jobs = LambdaReplyJobs(
        boto3.client("lambda", region_name=settings.region),
        ai.function_name,
        qualifier=ai.function_alias,
    )
    keys: ApiKeySource = SecretApiKey(
        cache(lambda: _secrets(settings)), ai.secret_id, max_age=ai.secret_max_age
    )
    if all(route.provider == "bedrock" for route in ai.routes):
        from realtime_chat.ai_models import NoApiKey

        keys = NoApiKey()  # IAM signs Bedrock's requests: no secret to read
    limiter = DynamoRateLimiter(
        client,
        settings.chat_table,
        per_minute=ai.messages_per_minute,
        daily_tokens=ai.daily_tokens,
    )

    @cache
    def model() -> ChatModel:
        # Built on the first reply: the accepting path never pays for importing requests.
        from realtime_chat.ai_models import routed_model

        return routed_model(ai, settings.region)

    route = authenticated(
        "chat_message",
        lambda data: ChatMessage.parse(
            data, max_chars=settings.max_message_chars, models=model_ids
        ),
        lambda ctx, command: accept_message(
            ctx,
            command,
            chat=chat,
            connections=connections,
            jobs=jobs,
            limiter=limiter,
            callback_url=ctx.callback_url,
            reply_timeout=settings.reply_timeout,
        ),
    )
    regenerate = authenticated(
        "regenerate_reply",
        lambda data: RegenerateReply.parse(data, models=model_ids),
        lambda ctx, command: regenerate_reply(
            ctx,
            command,
            chat=chat,
            connections=connections,
            jobs=jobs,
            limiter=limiter,
            callback_url=ctx.callback_url,
            reply_timeout=settings.reply_timeout,
        ),
    )
    edit = authenticated(
        "edit_message",
        lambda data: EditMessage.parse(
            data, max_chars=settings.max_message_chars, models=model_ids
        ),
        lambda ctx, command: edit_message(
            ctx,
            command,
            chat=chat,
            connections=connections,
            jobs=jobs,
            limiter=limiter,
            callback_url=ctx.callback_url,
            reply_timeout=settings.reply_timeout,
        ),
    )
    dispatcher = Dispatcher(
        {"chat_message": route, "regenerate_reply": regenerate, "edit_message": edit},
        senders=senders,
        connections=connections,
        clock=time.time,
        callback_url=settings.callback_url,
    )

    # The reply's own client: short timeouts suited to a streaming loop.
    streaming = _dynamodb(settings, streaming=True)
    reply_chat = DynamoChatStore(streaming, settings.chat_table)
    reply_connections = DynamoConnectionStore(streaming, settings.connections_table)

    def reply(job: ReplyJob) -> Reply:
        return generate_reply(
            job,
            settings=ai,
            chat=reply_chat,
            connections=reply_connections,
            sender=senders.at(job.callback_url),
            keys=keys,
            model=model(),
            clock=time.time,
            budget=limiter,
        )

    return ChatFunction(FrameHandler(dispatcher), reply)
