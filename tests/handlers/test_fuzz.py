"""Property-based fuzzing of the real $default and chat function entry points (chat_message,
regenerate_reply, edit_message): whatever a
client sends (text or binary, any JSON shape, any Unicode, any size up to the frame
limit), it gets a defined answer, never INTERNAL_ERROR, and its connection still works."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.dispatch import ACTIONS
from realtime_chat.domain import Message, Role, TurnState
from tests.conftest import LambdaContext, load_event
from tests.handlers.conftest import ADA, CONN, CONV, Chat
from tests.support.aws import CHAT_TABLE, clear_posted, frames_answered

FRAME_LIMIT = 32 * 1024
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any Unicode, and what JSON's \\u escapes can decode to but Unicode forbids: lone
# surrogates. Hypothesis's text() leaves those out even from an alphabet, so join.
chars = st.characters() | st.characters(
    min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]
)


def any_text(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(chars, max_size=max_size).map("".join)


texts = any_text(60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=5),
    max_leaves=20,
)
actions = st.sampled_from([*ACTIONS, "", "$default", "chat_message"]) | texts
fields = st.sampled_from(
    [
        "message",
        "conversationId",
        "clientMessageId",
        "title",
        "limit",
        "before",
        "cursor",
        "isTyping",
        "status",
        "notificationTypes",
        "messageId",
        "model",
    ]
)
shaped = st.fixed_dictionaries(
    {"action": actions, "data": st.dictionaries(fields, json_values, max_size=4)}
)
depths = st.sampled_from([1, 900, 1000, 5000, 16_000]) | st.integers(1, 16_000)
bodies = st.one_of(
    any_text(300),  # any text, control characters included
    shaped.map(json.dumps),
    shaped.map(lambda f: json.dumps(f, ensure_ascii=False)),
    json_values.map(json.dumps),
    st.integers(0, FRAME_LIMIT - 80).map(  # sizes up to the frame limit
        lambda n: json.dumps({"action": "chat_message", "data": {"message": "x" * n}})
    ),
    depths.map(lambda depth: "[" * depth + "]" * depth),
    depths.map(
        lambda depth: '{"action":"ping","data":' + '{"a":' * depth + "1" + "}" * (depth + 1)
    ),
)


def _route_key(body: str) -> str:
    """The route API Gateway picks for a text frame: its action when that is a route
    of this function (``ping``), else ``$default`` (also for frames that are not JSON)."""
    try:
        frame = json.loads(body)
    except (ValueError, RecursionError):
        return "$default"
    return "ping" if isinstance(frame, dict) and frame.get("action") == "ping" else "$default"


def _send(handler: ModuleType, context: LambdaContext, body: str | bytes) -> list[dict[str, Any]]:
    event = load_event("user_status")  # ada, signed in
    if isinstance(body, bytes):  # a binary frame
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"] = body
        event["requestContext"]["routeKey"] = _route_key(body)
    return frames_answered(handler, event, context, CONN)


def _assert_defined(answers: list[dict[str, Any]]) -> None:
    assert answers, "every frame gets an answer"
    for frame in answers:
        assert isinstance(frame.get("type"), str)
        if frame["type"] == "error":
            assert frame["code"] != "INTERNAL_ERROR", frame
            assert isinstance(frame["message"], str) and frame["message"]


def _still_usable(handler: ModuleType, context: LambdaContext) -> None:
    (pong,) = _send(handler, context, '{"action":"ping"}')
    assert pong["type"] == "pong"


@pytest.fixture
def default(moto_aws: Any, load_handler: Callable[[str], ModuleType]) -> ModuleType:
    clear_posted()
    return load_handler("default")


@FUZZ
@given(body=bodies | st.binary(max_size=300))
def test_any_frame_to_default_gets_a_defined_answer(
    default: ModuleType, lambda_context: LambdaContext, body: str | bytes
) -> None:
    _assert_defined(_send(default, lambda_context, body))
    _still_usable(default, lambda_context)


@FUZZ
@given(
    data=st.dictionaries(fields, json_values, max_size=5),
    text=any_text(200),
)
def test_any_chat_message_gets_a_defined_answer(
    chat_without_replies: Chat, data: dict[str, Any], text: str
) -> None:
    chat = chat_without_replies
    if text:
        data = {**data, "message": text}
    body = json.dumps({"action": "chat_message", "data": data})
    answers = _send(chat.handler, chat.context, body)
    _assert_defined(answers)
    assert answers[0]["type"] in ("message_received", "error")
    _stored_text_is_valid_unicode(chat.dynamodb)


def _stored_text_is_valid_unicode(dynamodb: Any) -> None:
    """DynamoDB refuses strings that are not valid UTF-8 (moto does not): nothing the
    backend stores may hold a lone surrogate."""
    for item in dynamodb.scan(TableName=CHAT_TABLE)["Items"]:
        for value in item.values():
            if "S" in value:
                value["S"].encode("utf-8")


@pytest.fixture
def chat_without_replies(chat: Chat) -> Chat:
    """Accepting only: the reply jobs are dropped, so each example stays fast."""
    chat.reload(CHAT_MESSAGES_PER_MINUTE="0")
    chat.replies.worker = lambda _event: None
    return chat


@pytest.fixture
def answered_turn(chat_without_replies: Chat) -> tuple[Chat, str]:
    """A conversation whose last turn is answered, so that a regenerate or an edit of
    it can be accepted; its question's id."""
    store = DynamoChatStore(chat_without_replies.dynamodb, CHAT_TABLE)
    question = Message("q-fuzz", Role.USER, "first question", "2026-11-25T20:00:00.000Z")
    answer = Message("a-fuzz", Role.ASSISTANT, "first answer", "2026-11-25T20:00:00.001Z")
    store.begin_turn(ADA, CONV, question, title="fuzz", client_message_id=None)
    store.finish_turn(ADA, CONV, question, reply=answer, state=TurnState.ANSWERED)
    return chat_without_replies, question.message_id


@FUZZ
@given(
    action=st.sampled_from(["regenerate_reply", "edit_message"]),
    data=st.dictionaries(fields, json_values, max_size=5),
    text=any_text(200),
    aimed=st.booleans(),
)
def test_any_regenerate_or_edit_gets_a_defined_answer(
    answered_turn: tuple[Chat, str], action: str, data: dict[str, Any], text: str, aimed: bool
) -> None:
    chat, question = answered_turn
    if text:
        data = {**data, "message": text}
    if aimed:  # at the real last turn, so that some are accepted
        data = {**data, "conversationId": CONV, "messageId": question}
    body = json.dumps({"action": action, "data": data})
    answers = _send(chat.handler, chat.context, body)
    _assert_defined(answers)
    assert answers[0]["type"] in ("message_received", "error")
    _stored_text_is_valid_unicode(chat.dynamodb)
