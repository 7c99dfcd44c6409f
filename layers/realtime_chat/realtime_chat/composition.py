"""The composition root: builds each function's entry point with real adapters, once
per container. Each builder imports only what its function needs: the authorizer
never loads boto3, and only the reply worker loads ``requests``.
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
    Connector,
    Disconnector,
    FrameHandler,
    ReplyWorker,
)
from realtime_chat.settings import ChatSettings, ai_settings, auth_settings, chat_settings

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from realtime_chat.adapters.sqs_jobs import SQSClient
    from realtime_chat.domain import ReplyJob
    from realtime_chat.ports import ApiKeySource, FrameSender
    from realtime_chat.usecases.reply import Reply

__all__ = [
    "LOCAL_ENDPOINTS",
    "ApiGatewaySenders",
    "build_authorizer",
    "build_connect",
    "build_default",
    "build_disconnect",
    "build_message",
    "build_reply",
    "dynamodb_config",
]

# `sam local invoke` runs a function in Docker with only the variables the template
# declares. This one is declared empty (AWS ignores it) so the env-vars file `make
# run` writes can point boto3 at the local stack; boto3 reads the standard name,
# which an empty value would break in AWS. (No function invokes Lambda any more.)
LOCAL_ENDPOINTS = {
    "LOCAL_AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL",
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


def build_message(env: Mapping[str, str] = os.environ) -> FrameHandler:
    """``chat_message``, ``regenerate_reply``, ``edit_message``: store and acknowledge
    the turn, and queue its reply job."""
    from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
    from realtime_chat.adapters.dynamodb_connections import DynamoConnectionStore
    from realtime_chat.adapters.dynamodb_rate_limit import DynamoRateLimiter
    from realtime_chat.adapters.sqs_jobs import SqsReplyJobs
    from realtime_chat.dispatch import Dispatcher, Route
    from realtime_chat.errors import ConfigurationError
    from realtime_chat.protocol import ChatMessage, EditMessage, RegenerateReply
    from realtime_chat.routes import authenticated
    from realtime_chat.usecases.chat import accept_message
    from realtime_chat.usecases.versions import edit_message, regenerate_reply

    settings = chat_settings(env)
    queue_url = settings.reply_queue_url
    if queue_url is None:
        raise ConfigurationError("environment variable REPLY_QUEUE_URL is not set")
    ai = ai_settings(env)
    model_ids = tuple(m.id for m in settings.models)
    client = _dynamodb(settings)
    connections = DynamoConnectionStore(client, settings.connections_table)
    chat = DynamoChatStore(client, settings.chat_table)
    # Made on the first job, after that turn's acknowledgement is sent: a cold start
    # does not wait for it.
    jobs = SqsReplyJobs(cast("SQSClient", _OnFirstUse(lambda: _sqs(settings))), queue_url)
    limiter = DynamoRateLimiter(
        client,
        settings.chat_table,
        per_minute=ai.messages_per_minute,
        daily_tokens=ai.daily_tokens,
    )

    def turn_route(
        action: str, parse: Callable[[Mapping[str, Any]], Any], use_case: Callable[..., None]
    ) -> Route:
        """A route that starts a turn (a message, a regenerate, an edit): same ports."""
        return authenticated(
            action,
            parse,
            lambda ctx, command: use_case(
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

    route = turn_route(
        "chat_message",
        lambda data: ChatMessage.parse(
            data, max_chars=settings.max_message_chars, models=model_ids
        ),
        accept_message,
    )
    regenerate = turn_route(
        "regenerate_reply",
        lambda data: RegenerateReply.parse(data, models=model_ids),
        regenerate_reply,
    )
    edit = turn_route(
        "edit_message",
        lambda data: EditMessage.parse(
            data, max_chars=settings.max_message_chars, models=model_ids
        ),
        edit_message,
    )
    dispatcher = Dispatcher(
        {"chat_message": route, "regenerate_reply": regenerate, "edit_message": edit},
        senders=ApiGatewaySenders(settings.region),
        connections=connections,
        clock=time.time,
        callback_url=settings.callback_url,
    )
    return FrameHandler(dispatcher)


def _sqs(settings: ChatSettings) -> SQSClient:
    import boto3
    from botocore.config import Config

    # The acknowledgement waits on this send: short timeouts, a few quick retries.
    config = Config(
        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5
    )
    return cast("SQSClient", boto3.client("sqs", region_name=settings.region, config=config))


def build_reply(env: Mapping[str, str] = os.environ) -> ReplyWorker:
    """The reply worker: streams every reply job of an SQS batch at once."""
    from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
    from realtime_chat.adapters.dynamodb_connections import DynamoConnectionStore
    from realtime_chat.adapters.dynamodb_rate_limit import DynamoRateLimiter
    from realtime_chat.adapters.secret_key import SecretApiKey
    from realtime_chat.ai_models import NoApiKey, routed_model
    from realtime_chat.coalescer import Coalescer
    from realtime_chat.usecases.reply import generate_reply

    settings = chat_settings(env)
    ai = ai_settings(env)
    client = _dynamodb(settings)
    # The replies' own client, for what runs between their chunks: short timeouts.
    streaming = _dynamodb(settings, streaming=True)
    connections = DynamoConnectionStore(streaming, settings.connections_table)
    chat = DynamoChatStore(streaming, settings.chat_table)
    senders = ApiGatewaySenders(settings.region)
    keys: ApiKeySource = SecretApiKey(
        cache(lambda: _secrets(settings)), ai.secret_id, max_age=ai.secret_max_age
    )
    if all(route.provider == "bedrock" for route in ai.routes):
        keys = NoApiKey()  # IAM signs Bedrock's requests: no secret to read
    limiter = DynamoRateLimiter(
        client,
        settings.chat_table,
        per_minute=ai.messages_per_minute,
        daily_tokens=ai.daily_tokens,
    )
    model = routed_model(ai, settings.region)

    def coalescer() -> Coalescer:
        return Coalescer(
            interval=ai.chunk_seconds, max_interval=ai.max_chunk_seconds, max_chars=ai.chunk_chars
        )

    def reply(job: ReplyJob) -> Reply:
        return generate_reply(
            job,
            settings=ai,
            chat=chat,
            connections=connections,
            sender=senders.at(job.callback_url),
            keys=keys,
            model=model,
            clock=time.time,
            coalescer=coalescer,
            budget=limiter,
        )

    return ReplyWorker(reply)
