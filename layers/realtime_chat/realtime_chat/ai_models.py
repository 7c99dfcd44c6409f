"""The chat function's ``LanguageModel``, built from its AI routes: the composition root's
part for models (:mod:`realtime_chat.composition` calls it on the first reply).

Each route becomes its provider's adapter; together they fail over in one
:class:`~realtime_chat.adapters.model_routes.RoutedModel`. The ``bedrock-runtime``
client is built on the first Bedrock answer, once per container.
"""

from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from realtime_chat.adapters.bedrock_converse import BedrockRuntime
    from realtime_chat.ports import LanguageModel
    from realtime_chat.settings import AiRoute, AiSettings

__all__ = ["NoApiKey", "routed_model"]


class NoApiKey:
    """The key source of a deployment whose every route is Bedrock's."""

    def api_key(self, *, refresh: bool = False) -> str:
        return ""


def routed_model(ai: AiSettings, region: str) -> LanguageModel:
    """The configured routes as one model that fails over between them. A route with
    another after it does not retry: the next route is the retry."""
    from realtime_chat.adapters.model_routes import ModelRoute, RoutedModel
    from realtime_chat.breaker import CircuitBreaker
    from realtime_chat.settings import AiRoute

    routes = []
    for index, route in enumerate(ai.routes):
        retries = ai.retries if index == len(ai.routes) - 1 else 0
        routes.append(
            ModelRoute(route.provider, route.model, _route_model(ai, route, retries, region))
        )
    # Allow-listed models whose route is not configured: tried first when chosen, then
    # the configured routes (so they do not retry: those are the retry).
    configured = {r.name for r in routes}
    choosable = [
        ModelRoute(m.provider, m.model, _route_model(ai, AiRoute(m.provider, m.model), 0, region))
        for m in ai.models
        if m.route not in configured
    ]
    return RoutedModel(routes, breaker=CircuitBreaker(), clock=time.monotonic, choosable=choosable)


def _route_model(ai: AiSettings, route: AiRoute, retries: int, region: str) -> LanguageModel:
    if route.provider == "bedrock":
        from realtime_chat.adapters.bedrock_converse import BedrockConverseModel

        return BedrockConverseModel(
            lambda: _bedrock(ai, retries, region),
            model_id=route.model,
            max_tokens=ai.max_tokens,
            temperature=ai.temperature,
        )
    from realtime_chat.adapters.openai_stream import OpenAICompatibleModel

    return OpenAICompatibleModel(
        base_url=ai.base_url,
        model=route.model,
        max_tokens=ai.max_tokens,
        temperature=ai.temperature,
        connect_timeout=ai.connect_timeout,
        read_timeout=ai.read_timeout,
        retries=retries,
    )


@cache
def _bedrock(ai: AiSettings, retries: int, region: str) -> BedrockRuntime:
    """One bedrock-runtime client per container (and retry count); boto3 honours
    ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, which the local stack sets."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=ai.connect_timeout,
        read_timeout=ai.read_timeout,
        retries={"total_max_attempts": retries + 1, "mode": "standard"},
    )
    client: BedrockRuntime = boto3.client("bedrock-runtime", region_name=region, config=config)
    return client
