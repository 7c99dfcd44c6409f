"""Odd bytes and odd shapes through the real handlers: every frame gets a defined answer,
nothing is charged or stored for a refused one, and the client can tell which of its
messages was refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import LambdaContext, load_event
from tests.handlers.conftest import CONN, CONV, Chat
from tests.support.aws import CHAT_TABLE, CONNECTIONS_TABLE, clear_posted, posted_frames

DEEP = "[" * 16000 + "]" * 16000  # 32,000 bytes, deeper than any JSON decoder recurses


def _raw(handler: ModuleType, body: str, context: LambdaContext) -> list[dict[str, Any]]:
    """Send a frame's exact text from ada's signed-in connection; the frames posted back."""
    event = load_event("user_status")
    event["body"] = body
    before = len(posted_frames(CONN))
    assert handler.lambda_handler(event, context) == {"statusCode": 200}
    return posted_frames(CONN)[before:]


@pytest.fixture
def default(moto_aws: Any, load_handler: Callable[[str], ModuleType]) -> ModuleType:
    clear_posted()
    return load_handler("default")


def test_deeply_nested_json_is_invalid_json_not_an_internal_error(
    default: ModuleType, lambda_context: LambdaContext
) -> None:
    # WHEN a client sends 16,000 nested brackets
    (frame,) = _raw(default, DEEP, lambda_context)
    # THEN it is told its frame is not JSON we accept
    assert (frame["type"], frame["code"], frame["action"]) == ("error", "INVALID_JSON", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            '{"action":"rename_conversation","data":{"conversationId":"c1","title":"\\ud800"}}',
            "title",
        ),
        (
            '{"action":"chat_typing","data":{"conversationId":"c1","isTyping":true,"x":["\\udfff"]}}',
            "x",
        ),
        ('{"action":"\\ud83d"}', "action"),
    ],
)
def test_lone_surrogates_are_invalid_message_naming_the_field(
    default: ModuleType, lambda_context: LambdaContext, body: str, field: str
) -> None:
    (frame,) = _raw(default, body, lambda_context)
    assert (frame["code"], frame["field"]) == ("INVALID_MESSAGE", field)
    assert "invalid Unicode" in frame["message"]


def test_lone_surrogates_in_a_chat_message_are_refused_before_anything_is_charged(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a limit of one message a minute
    chat.reload(CHAT_MESSAGES_PER_MINUTE="1")
    # WHEN a message with a lone surrogate is sent, then a good one
    chat.send(message="broken \ud800 text", clientMessageId="bad-1")
    chat.send(message="a good one", clientMessageId="good-1")
    refused, ack = chat.frames()[0], chat.frames()[1]
    # THEN the first is INVALID_MESSAGE naming its field and its client id, the second
    # is accepted: the refused one spent nothing of the quota, and only it was stored
    assert (refused["code"], refused["field"], refused["clientMessageId"]) == (
        "INVALID_MESSAGE",
        "message",
        "bad-1",
    )
    assert (ack["type"], ack["clientMessageId"]) == ("message_received", "good-1")
    assert [m.content for m in chat.stored()][:1] == ["a good one"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"message": ""}, "INVALID_MESSAGE"),
        ({"message": "x" * 8001}, "MESSAGE_TOO_LARGE"),
        ({"conversationId": "no spaces allowed"}, "INVALID_MESSAGE"),
    ],
)
def test_chat_message_errors_echo_the_client_message_id(
    chat: Chat, changes: dict[str, Any], code: str
) -> None:
    chat.send(clientMessageId="mine-42", **changes)
    (frame,) = chat.frames()
    assert (frame["code"], frame["action"], frame["clientMessageId"]) == (
        code,
        "chat_message",
        "mine-42",
    )


def test_an_anonymous_chat_message_error_echoes_the_client_message_id(chat: Chat) -> None:
    event = load_event("chat_message_anonymous")
    body = json.loads(event["body"])
    body["data"]["clientMessageId"] = "anon-7"
    event["body"] = json.dumps(body)
    chat.handler.lambda_handler(event, chat.context)
    (frame,) = chat.frames()
    assert (frame["code"], frame["clientMessageId"]) == ("AUTH_REQUIRED", "anon-7")


def test_junokit_subscription_names_are_accepted_and_replies_still_arrive(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    # GIVEN ada's connection
    from tests.support.aws import put_connection

    put_connection(moto_aws, CONN, "7d8e9f00-1111-4222-8333-944455556666")
    # WHEN the Junokit web client subscribes the way it does
    event = load_event("subscribe_notifications")
    event["body"] = json.dumps(
        {
            "action": "subscribe_notifications",
            "data": {"notificationTypes": ["chat", "system", "ai_response"]},
        }
    )
    default.lambda_handler(event, lambda_context)
    # THEN the subscription is acknowledged and stored as sent
    (ack,) = posted_frames(CONN)
    assert ack == {
        "type": "notifications_subscribed",
        "subscriptions": ["chat", "system", "ai_response"],
    }
    item = moto_aws.get_item(TableName=CONNECTIONS_TABLE, Key={"connectionId": {"S": CONN}})
    assert sorted(item["Item"]["subscriptions"]["SS"]) == ["ai_response", "chat", "system"]


def test_unknown_subscription_names_stay_invalid(
    default: ModuleType, lambda_context: LambdaContext
) -> None:
    body = '{"action":"subscribe_notifications","data":{"notificationTypes":["chat","gossip"]}}'
    (frame,) = _raw(default, body, lambda_context)
    assert (frame["code"], frame["field"]) == ("INVALID_MESSAGE", "notificationTypes")


def test_nothing_is_stored_for_any_refused_frame(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    for body in (DEEP, '{"action":"rename_conversation","data":{"title":"\\ud800"}}', "\x00"):
        _raw(default, body, lambda_context)
    assert moto_aws.scan(TableName=CHAT_TABLE)["Items"] == []


@pytest.mark.parametrize(
    ("action", "changes", "code", "field"),
    [
        ("edit_message", {"message": "broken \ud800 text"}, "INVALID_MESSAGE", "message"),
        ("edit_message", {"message": "x" * 8001}, "MESSAGE_TOO_LARGE", "message"),
        ("edit_message", {"messageId": "../../etc"}, "INVALID_MESSAGE", "messageId"),
        ("regenerate_reply", {"conversationId": "\ud800"}, "INVALID_MESSAGE", "conversationId"),
        ("regenerate_reply", {"model": {"$ne": None}}, "INVALID_MESSAGE", "model"),
    ],
)
def test_a_hostile_regenerate_or_edit_is_refused_naming_the_field_and_charges_nothing(
    chat: Chat, action: str, changes: dict[str, Any], code: str, field: str
) -> None:
    # GIVEN an answered turn and a limit of one more message a minute
    chat.reload(CHAT_MESSAGES_PER_MINUTE="2")
    chat.send(message="hello", clientMessageId="c-1")
    question = chat.frames()[0]["messageId"]
    before = chat.dynamodb.scan(TableName=CHAT_TABLE)["Items"]
    clear_posted()
    # WHEN a regenerate or an edit with a hostile field is sent
    data = {"conversationId": CONV, "messageId": question, "message": "ok", **changes}
    chat.send(action, clientMessageId="bad-1", **{k: v for k, v in data.items()})
    # THEN it is refused naming the field and echoing its clientMessageId
    (refused,) = chat.frames()
    assert (refused["code"], refused["field"], refused["clientMessageId"]) == (code, field, "bad-1")
    # AND nothing changed: the one message left is still there for a regenerate
    assert chat.dynamodb.scan(TableName=CHAT_TABLE)["Items"] == before
    clear_posted()
    chat.send("regenerate_reply", clientMessageId="good-1")
    assert chat.frames()[0]["type"] == "message_received"
