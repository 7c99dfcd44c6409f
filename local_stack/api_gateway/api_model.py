"""The WebSocket API as template.yaml declares it: stage, route selection, which function
each route invokes, which routes are two-way, and the ``$connect`` authorizer's function."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from local_stack.provisioning.intrinsics import Resolver
from local_stack.provisioning.template import Template

__all__ = ["ApiModel", "api_model"]

# ${Fn.Arn}, or ${FnAlias<name>}: the alias SAM's AutoPublishAlias makes (same code).
_FUNCTION_IN_URI = re.compile(r"\$\{(\w+?)(?:\.Arn|Alias[A-Za-z0-9]+)\}")


@dataclass(frozen=True)
class ApiModel:
    stage: str
    selection_expression: str
    routes: dict[str, str]  # route key -> function logical id
    authorizer: str | None  # function logical id of the $connect authorizer
    identity_sources: tuple[str, ...]
    # Route keys with a route response: API Gateway sends the integration's response
    # to the client (for a Lambda proxy integration, the ``body`` it returns).
    two_way: frozenset[str] = frozenset()


def _function_of(uri: Any) -> str:
    text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
    if isinstance(text, list):
        text = text[0]
    match = _FUNCTION_IN_URI.search(str(text))
    if not match:
        raise ValueError(f"template.yaml: cannot tell which function {uri!r} invokes")
    return match.group(1)


def api_model(template: Template, resolver: Resolver) -> ApiModel:
    apis = {
        k: v
        for k, v in template.of_type("AWS::ApiGatewayV2::Api").items()
        if v["Properties"].get("ProtocolType") == "WEBSOCKET"
    }
    if len(apis) != 1:
        raise ValueError("template.yaml must declare exactly one WEBSOCKET AWS::ApiGatewayV2::Api")
    ((api_id, api),) = apis.items()
    integrations = {
        logical_id: _function_of(resource["Properties"]["IntegrationUri"])
        for logical_id, resource in template.of_type("AWS::ApiGatewayV2::Integration").items()
    }
    routes: dict[str, str] = {}
    keys: dict[str, str] = {}  # route logical id -> route key
    authorizer: str | None = None
    sources: tuple[str, ...] = ()
    for route_id, resource in template.of_type("AWS::ApiGatewayV2::Route").items():
        props = resource["Properties"]
        target = str(resolver.resolve(props["Target"]))
        integration = target.removeprefix("integrations/")
        key = props["RouteKey"]
        keys[route_id] = key
        routes[key] = integrations[_integration_id(integration, integrations)]
        if key == "$connect" and props.get("AuthorizationType") == "CUSTOM":
            authorizer_id = props["AuthorizerId"]["Ref"]
            authorizer_props = template.properties(authorizer_id)
            authorizer = _function_of(authorizer_props["AuthorizerUri"])
            sources = tuple(authorizer_props.get("IdentitySource") or ())
    stages = [
        r["Properties"]
        for r in template.of_type("AWS::ApiGatewayV2::Stage").values()
        if r["Properties"]["ApiId"] == {"Ref": api_id}
    ]
    stage = str(resolver.resolve(stages[0]["StageName"])) if stages else "$default"
    two_way = frozenset(
        keys[resource["Properties"]["RouteId"]["Ref"]]
        for resource in template.of_type("AWS::ApiGatewayV2::RouteResponse").values()
        if resource["Properties"].get("RouteResponseKey") == "$default"
    )
    return ApiModel(
        stage=stage,
        selection_expression=api["Properties"].get("RouteSelectionExpression", ""),
        routes=routes,
        authorizer=authorizer,
        identity_sources=sources,
        two_way=two_way,
    )


def _integration_id(resolved: str, integrations: dict[str, str]) -> str:
    # Targets are "integrations/${SomeIntegration}", which the resolver turns into the
    # logical id itself (integrations have no physical id locally).
    if resolved in integrations:
        return resolved
    raise ValueError(f"template.yaml: route target integrations/{resolved} is not declared")
