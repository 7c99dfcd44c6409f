"""Routing frames to use cases, with fakes for the ports: answers and honest errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from realtime_chat.dispatch import ACTIONS, Dispatcher, Route
from realtime_chat.domain import Identity
from realtime_chat.errors import ErrorCode
from realtime_chat.events import MessageRequest, RequestInfo
from realtime_chat.routes import default_routes
from realtime_chat.settings import chat_settings
from realtime_chat.usecases.context import Context
from tests.support.fakes import MemoryConnections, RecordingSender, Senders

NOW = 1_800_000_000.0
World = tuple[Dispatcher, RecordingSender, MemoryConnections]
ADA = Identity("ada", "ada@example.com", True, int(NOW) + 600)


class ExplodingChat:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("secret internals: table arn:aws:dynamodb:... not reachable")


def _request(
    body: Any, identity: Identity = ADA, connection_id: str = "conn-1", route_key: str = "$default"
) -> MessageRequest:
    info = RequestInfo(
        connection_id=connection_id,
        request_id="req-1",
        route_key=route_key,
        domain_name="example.com",
        stage="prod",
        connected_at=int(NOW * 1000) - 5000,
        request_time=int(NOW * 1000),
        source_ip="203.0.113.1",
    )
    text = body if isinstance(body, str) else json.dumps(body)
    return MessageRequest(info=info, identity=identity, body=text)


@pytest.fixture
def senders() -> Senders:
    """The @connections endpoints the dispatcher looks up, recorded."""
    return Senders(RecordingSender())


@pytest.fixture
def world(senders: Senders) -> World:
    sender = senders.sender
    connections = MemoryConnections()
    settings = chat_settings(
        {"AWS_REGION": "eu-west-1", "CONNECTIONS_TABLE": "c", "CHAT_TABLE": "h"}
    )
    routes = default_routes(settings=settings, chat=ExplodingChat(), connections=connections)
    dispatcher = Dispatcher(routes, senders=senders, connections=connections, clock=lambda: NOW)
    return dispatcher, sender, connections


def test_ping_answers_pong_with_who_and_when(world: World) -> None:
    dispatcher, sender, _ = world
    dispatcher.handle(_request({"action": "ping"}, Identity.anonymous()))
    (pong,) = sender.sent["conn-1"]
    assert pong["type"] == "pong"
    assert pong["connectionId"] == "conn-1"
    assert pong["userId"] == "anonymous"
    assert pong["timestamp"].endswith("Z")


def test_a_ping_on_its_two_way_route_is_answered_in_the_response_not_posted(
    world: World, senders: Senders
) -> None:
    # GIVEN a ping that came through the "ping" route, which has a route response
    dispatcher, sender, _ = world
    # WHEN it is handled
    outcome = dispatcher.handle(_request({"action": "ping"}, route_key="ping"))
    # THEN the pong is the function's response, for API Gateway to send, and no
    # @connections endpoint was even looked up
    assert outcome.response is not None and outcome.response["type"] == "pong"
    assert outcome.response["connectionId"] == "conn-1"
    assert sender.sent == {}
    assert senders.urls == []


def test_a_ping_that_came_through_default_is_posted_as_before(world: World) -> None:
    # GIVEN a deployment whose API has no ping route: pings arrive on $default
    dispatcher, sender, _ = world
    outcome = dispatcher.handle(_request({"action": "ping"}, route_key="$default"))
    (pong,) = sender.sent["conn-1"]
    assert pong["type"] == "pong"
    assert outcome.response is None


def test_an_error_on_a_two_way_route_is_the_response(world: World) -> None:
    dispatcher, sender, _ = world
    outcome = dispatcher.handle(_request({"action": "ping", "data": "x"}, route_key="ping"))
    assert outcome.response is not None
    assert (outcome.response["code"], outcome.response["field"]) == ("INVALID_MESSAGE", "data")
    assert outcome.error is ErrorCode.INVALID_MESSAGE
    assert sender.sent == {}


def test_on_a_two_way_route_only_the_last_frame_waits_for_the_response() -> None:
    # GIVEN a two-way route whose use case sends twice to its sender and once elsewhere
    sender = RecordingSender()

    def chatty(ctx: Context, _data: Any) -> None:
        ctx.reply({"n": 1})
        ctx.sender.send("conn-2", {"n": 2})
        ctx.reply({"n": 3})

    routes: dict[str, Route] = {"ping": chatty}
    dispatcher = Dispatcher(
        routes, senders=Senders(sender), connections=MemoryConnections(), clock=lambda: NOW
    )
    # WHEN it is handled
    outcome = dispatcher.handle(_request({"action": "ping"}, route_key="ping"))
    # THEN the earlier frames were posted when sent, in order, and the last one is the
    # response, which API Gateway delivers after them
    assert sender.sent == {"conn-1": [{"n": 1}], "conn-2": [{"n": 2}]}
    assert outcome.response == {"n": 3}


def test_debug_status_reports_booleans_never_values(world: World) -> None:
    dispatcher, sender, _ = world
    dispatcher.handle(_request({"action": "debug_status"}))
    (frame,) = sender.sent["conn-1"]
    assert frame["environment"] == {
        "hasApiSecretsArn": False,
        "hasConnectionsTable": True,
        "hasChatTable": True,
        "region": "eu-west-1",
        "models": [],
    }
    assert frame["connectionInfo"]["userId"] == "ada"
    assert frame["connectionInfo"]["isAuthenticated"] is True


def test_an_unknown_action_names_the_supported_ones(world: World) -> None:
    dispatcher, sender, _ = world
    outcome = dispatcher.handle(_request({"action": "launch_rockets"}))
    (frame,) = sender.sent["conn-1"]
    assert frame["code"] == "UNKNOWN_ACTION"
    assert frame["action"] == "launch_rockets"
    assert all(action in frame["message"] for action in ACTIONS)
    assert outcome.error is ErrorCode.UNKNOWN_ACTION


def test_invalid_json_is_answered_with_a_null_action(world: World) -> None:
    dispatcher, sender, _ = world
    dispatcher.handle(_request('{"action": "ping"'))
    (frame,) = sender.sent["conn-1"]
    assert frame == {
        "type": "error",
        "code": "INVALID_JSON",
        "message": "The frame is not valid JSON.",
        "action": None,
        "requestId": "req-1",
    }


def test_anonymous_users_must_sign_in_before_data_is_even_validated(world: World) -> None:
    dispatcher, sender, _ = world
    dispatcher.handle(_request({"action": "chat_history", "data": {}}, Identity.anonymous()))
    (frame,) = sender.sent["conn-1"]
    assert frame["code"] == "AUTH_REQUIRED"


def test_an_expired_token_answers_token_expired(world: World) -> None:
    dispatcher, sender, _ = world
    expired = Identity("ada", None, True, int(NOW) - 1)
    dispatcher.handle(_request({"action": "user_status", "data": {"status": "away"}}, expired))
    (frame,) = sender.sent["conn-1"]
    assert frame["code"] == "TOKEN_EXPIRED"
    assert frame["retryable"] is True


def test_an_unexpected_failure_says_internal_error_without_details(world: World) -> None:
    dispatcher, sender, _ = world
    dispatcher.handle(_request({"action": "list_conversations"}))
    (frame,) = sender.sent["conn-1"]
    assert frame["code"] == "INTERNAL_ERROR"
    assert "req-1" in frame["message"]
    assert "arn" not in json.dumps(frame) and "secret" not in json.dumps(frame)


MODELS = (
    "fast|GPT-4o mini|openai:openai/gpt-4o-mini|1024;"
    "deep|Claude|openai:arn:aws:bedrock:us-east-1:123456789012:inference-profile/x"
)


def test_models_are_listed_and_debug_status_shows_them_by_label_never_by_route(
    senders: Senders,
) -> None:
    # GIVEN a server with two allow-listed models, one routed through an ARN
    env = {"AWS_REGION": "eu-west-1", "CONNECTIONS_TABLE": "c", "CHAT_TABLE": "h"}
    settings = chat_settings({**env, "AI_MODELS": MODELS})
    connections = MemoryConnections()
    routes = default_routes(settings=settings, chat=ExplodingChat(), connections=connections)
    dispatcher = Dispatcher(routes, senders=senders, connections=connections, clock=lambda: NOW)
    # WHEN a client lists the models and asks for debug_status
    dispatcher.handle(_request({"action": "list_models"}))
    dispatcher.handle(_request({"action": "debug_status"}))
    listed, status = senders.sender.sent["conn-1"]
    # THEN it gets their ids and labels, and debug_status names them by label
    assert listed == {
        "type": "models",
        "models": [{"id": "fast", "label": "GPT-4o mini"}, {"id": "deep", "label": "Claude"}],
    }
    assert [m["label"] for m in status["environment"]["models"]] == ["GPT-4o mini", "Claude"]
    # AND neither ever shows a route: no model name, no ARN
    for frame in (listed, status):
        assert "gpt-4o-mini" not in str(frame) and "arn:" not in str(frame)
