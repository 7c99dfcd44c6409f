"""Settings read once from the environment at cold start, typed and validated.

Each function loads only the groups it needs; a missing or malformed variable
raises :class:`ConfigurationError` naming it, so a misdeployed function fails at
init with a clear log line instead of answering every request with a vague error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from realtime_chat.errors import ConfigurationError
from realtime_chat.model_options import PROVIDERS, ModelOption, parse_models

__all__ = [
    "BOUNDS",
    "PROVIDERS",
    "AiRoute",
    "AiSettings",
    "AuthSettings",
    "ChatSettings",
    "ai_routes",
    "ai_settings",
    "auth_settings",
    "chat_settings",
]

# API Gateway closes every WebSocket connection after 2 hours.
MAX_CONNECTION_SECONDS = 2 * 60 * 60

# The range each numeric variable accepts. template.yaml's parameters that feed them
# carry the same MinValue/MaxValue (tests/unit/test_template_parameters.py proves it),
# so a value CloudFormation accepts never fails a function at init.
BOUNDS: dict[str, tuple[float, float]] = {
    # A chat frame is at most 32 KB, JSON-escaped: 30,000 characters leave room.
    "MAX_MESSAGE_CHARS": (1, 30_000),
    "REPLY_TIMEOUT_SECONDS": (30, 900),
    # An answer is one DynamoDB item (400 KB at most): 32,768 tokens are ~130 KB.
    "AI_MAX_TOKENS": (1, 32_768),
    "AI_TEMPERATURE": (0.0, 2.0),
    "HISTORY_MESSAGES": (0, 100),
    "HISTORY_CHARS": (0, 1_000_000),
    "SECRET_CACHE_SECONDS": (0, 86_400),
    "CHAT_MESSAGES_PER_MINUTE": (0, 10_000),
    "AI_CONNECT_TIMEOUT": (0.1, 60.0),
    "AI_READ_TIMEOUT": (0.1, 600.0),
    "AI_RETRIES": (0, 5),
    "MAX_CONNECTIONS_PER_USER": (0, 1000),
    "DAILY_TOKEN_BUDGET": (0, 100_000_000),
    # A reply's chunks (coalescer.py): the first interval, the longest it grows to, and
    # the size that sends a chunk early (a frame is at most 32 KB).
    "REPLY_CHUNK_MS": (10, 2000),
    "REPLY_MAX_CHUNK_MS": (10, 5000),
    "REPLY_CHUNK_CHARS": (100, 16_000),
}


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_bounded(env, name, default, int, "an integer"))


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    return _bounded(env, name, default, float, "a number")


def _bounded(
    env: Mapping[str, str],
    name: str,
    default: float,
    kind: type[int] | type[float],
    kind_name: str,
) -> float:
    low, high = BOUNDS[name]
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be {kind_name}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"environment variable {name} must be in {low}..{high}")
    return value


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"true", "1", "yes"}:
        return True
    if raw in {"false", "0", "no"}:
        return False
    raise ConfigurationError(f"environment variable {name} must be true or false")


def _region(env: Mapping[str, str]) -> str:
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigurationError("environment variable AWS_REGION is not set")
    return region


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """What the ``$connect`` authorizer needs to verify Cognito tokens."""

    region: str
    user_pool_id: str
    client_id: str
    issuer: str
    jwks_url: str
    allow_anonymous: bool
    # Exact browser origins allowed to connect; empty: every origin.
    allowed_origins: frozenset[str] = frozenset()


def auth_settings(env: Mapping[str, str] = os.environ) -> AuthSettings:
    """Load :class:`AuthSettings`; ``TOKEN_ISSUER`` and ``JWKS_URL`` default to Cognito's."""
    region = _region(env)
    pool = _required(env, "USER_POOL_ID")
    issuer = env.get("TOKEN_ISSUER") or f"https://cognito-idp.{region}.amazonaws.com/{pool}"
    return AuthSettings(
        region=region,
        user_pool_id=pool,
        client_id=_required(env, "USER_POOL_CLIENT_ID"),
        issuer=issuer,
        # Separate from the issuer so a local Cognito can serve the keys.
        jwks_url=env.get("JWKS_URL") or f"{issuer}/.well-known/jwks.json",
        allow_anonymous=_boolean(env, "ALLOW_ANONYMOUS_CONNECTIONS", True),
        allowed_origins=_origins(env),
    )


def _origins(env: Mapping[str, str]) -> frozenset[str]:
    origins = frozenset(o.strip().rstrip("/") for o in env.get("ALLOWED_ORIGINS", "").split(","))
    origins -= {""}
    for origin in origins:
        if not origin.startswith(("https://", "http://")):
            raise ConfigurationError(
                f"environment variable ALLOWED_ORIGINS: {origin!r} is not an http(s) origin"
            )
    return origins


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """What the connect, disconnect, message and default functions share."""

    region: str
    connections_table: str
    chat_table: str
    api_secret_arn: str | None
    max_message_chars: int
    allow_anonymous: bool
    # Overrides the ``https://{domainName}/{stage}`` endpoint derived from each
    # event: for a custom domain mapped at its root, or the local gateway.
    callback_url: str | None
    # The reply function's timeout: a reply streaming for longer has died with its
    # invocation (its history shows an error, a retry of its turn runs it again).
    reply_timeout: int = 300
    max_connections_per_user: int = 10  # 0: no cap
    # The queue the chat_message route hands reply jobs to (the message function's).
    reply_queue_url: str | None = None
    models: tuple[ModelOption, ...] = ()  # AI_MODELS: what a conversation may choose


def chat_settings(env: Mapping[str, str] = os.environ) -> ChatSettings:
    """Load :class:`ChatSettings`, naming the first variable that is missing or malformed."""
    return ChatSettings(
        region=_region(env),
        connections_table=_required(env, "CONNECTIONS_TABLE"),
        chat_table=_required(env, "CHAT_TABLE"),
        api_secret_arn=env.get("API_SECRETS_ARN") or None,
        max_message_chars=_integer(env, "MAX_MESSAGE_CHARS", 8000),
        allow_anonymous=_boolean(env, "ALLOW_ANONYMOUS_CONNECTIONS", True),
        callback_url=env.get("WEBSOCKET_CALLBACK_URL") or None,
        reply_timeout=_integer(env, "REPLY_TIMEOUT_SECONDS", 300),
        max_connections_per_user=_integer(env, "MAX_CONNECTIONS_PER_USER", 10),
        reply_queue_url=env.get("REPLY_QUEUE_URL", "").strip() or None,
        models=parse_models(env.get("AI_MODELS", "")),
    )


@dataclass(frozen=True, slots=True)
class AiRoute:
    """One way to answer: a provider and its model (for Bedrock an id, an inference
    profile or an ARN). ``name`` (``provider:model``) is how logs call it."""

    provider: str
    model: str

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True, slots=True)
class AiSettings:
    """The reply worker's model and streaming settings. The API key is not here: it
    lives in the secret."""

    secret_id: str | None  # None: AI_NOT_CONFIGURED on every chat message
    base_url: str
    model: str
    max_tokens: int
    temperature: float
    system_prompt: str
    history_messages: int
    history_chars: int
    secret_max_age: int
    connect_timeout: float
    read_timeout: float
    retries: int
    messages_per_minute: int  # per user; 0: no limit
    daily_tokens: int  # AI tokens per user and UTC day; 0: no limit
    # Coalescing (coalescer.py): text gathers for chunk_seconds after the first chunk,
    # growing up to max_chunk_seconds; chunk_chars gathered send a chunk at once.
    chunk_seconds: float = 0.1
    max_chunk_seconds: float = 0.1
    chunk_chars: int = 2000
    # The routes to try, in order, for each answer (AI_ROUTES); by default the one
    # OpenAI-compatible provider with AI_MODEL.
    routes: tuple[AiRoute, ...] = ()
    models: tuple[ModelOption, ...] = ()  # AI_MODELS: what a conversation may choose


def ai_settings(env: Mapping[str, str] = os.environ) -> AiSettings:
    base_url = env.get("AI_BASE_URL", "").strip() or "https://openrouter.ai/api/v1"
    if not base_url.startswith(("https://", "http://")):
        raise ConfigurationError("environment variable AI_BASE_URL must be an http(s) URL")
    model = env.get("AI_MODEL", "").strip() or "openai/gpt-4o-mini"
    return AiSettings(
        secret_id=env.get("API_SECRETS_ARN") or None,
        base_url=base_url.rstrip("/"),
        model=model,
        max_tokens=_integer(env, "AI_MAX_TOKENS", 1024),
        temperature=_number(env, "AI_TEMPERATURE", 0.7),
        system_prompt=env.get("AI_SYSTEM_PROMPT", "").strip() or "You are a helpful assistant.",
        history_messages=_integer(env, "HISTORY_MESSAGES", 20),
        history_chars=_integer(env, "HISTORY_CHARS", 24_000),
        secret_max_age=_integer(env, "SECRET_CACHE_SECONDS", 300),
        connect_timeout=_number(env, "AI_CONNECT_TIMEOUT", 5.0),
        read_timeout=_number(env, "AI_READ_TIMEOUT", 30.0),
        retries=_integer(env, "AI_RETRIES", 2),
        messages_per_minute=_integer(env, "CHAT_MESSAGES_PER_MINUTE", 20),
        daily_tokens=_integer(env, "DAILY_TOKEN_BUDGET", 0),
        chunk_seconds=_integer(env, "REPLY_CHUNK_MS", 100) / 1000,
        max_chunk_seconds=_max_chunk_ms(env) / 1000,
        chunk_chars=_integer(env, "REPLY_CHUNK_CHARS", 2000),
        routes=ai_routes(env.get("AI_ROUTES", ""), default_model=model),
        models=parse_models(env.get("AI_MODELS", "")),
    )


def _max_chunk_ms(env: Mapping[str, str]) -> int:
    """REPLY_MAX_CHUNK_MS, raised to REPLY_CHUNK_MS when below it (unset: equal): the
    template cannot compare two parameters, and a value it accepts must not fail init."""
    first = _integer(env, "REPLY_CHUNK_MS", 100)
    return max(first, _integer(env, "REPLY_MAX_CHUNK_MS", first))


def ai_routes(value: str, *, default_model: str) -> tuple[AiRoute, ...]:
    """``AI_ROUTES``: comma-separated ``provider:model`` routes, first tried first, e.g.
    ``bedrock:anthropic.claude-3-haiku-20240307-v1:0,openai:openai/gpt-4o-mini`` (a
    model may itself contain colons). Empty: ``openai:<AI_MODEL>``."""
    routes: list[AiRoute] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        provider, _, model = entry.partition(":")
        if provider.strip() not in PROVIDERS or not model.strip():
            raise ConfigurationError(
                f"environment variable AI_ROUTES: {entry!r} is not provider:model "
                f"with provider one of {', '.join(PROVIDERS)}"
            )
        route = AiRoute(provider.strip(), model.strip())
        if route in routes:
            raise ConfigurationError(f"environment variable AI_ROUTES names {entry!r} twice")
        routes.append(route)
    return tuple(routes) or (AiRoute("openai", default_model),)
