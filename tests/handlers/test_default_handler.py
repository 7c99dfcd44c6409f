"""Every $default action through the real handler, against moto, frames read from @connections."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import Message, Role
from tests.conftest import LambdaContext, load_event
from tests.support.aws import (
    CHAT_TABLE,
    CONNECTIONS_TABLE,
    clear_posted,
    frames_answered,
    gateway_with_gone,
    posted_frames,
    put_connection,
)
from tests.support.faults import DynamoFault

ADA = "7d8e9f00-1111-4222-8333-944455556666"
CONN = "L0SM9cOFvHcCIhw="


@pytest.fixture
def dynamodb_calls() -> Iterator[list[str]]:
    """Names of the DynamoDB operations made by clients created after this fixture."""
    calls: list[str] = []
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    yield calls
    boto3.DEFAULT_SESSION = None


@pytest.fixture
def default(
    moto_aws: Any, dynamodb_calls: list[str], load_handler: Callable[[str], ModuleType]
) -> ModuleType:
    clear_posted()
    return load_handler("default")


def _send(
    handler: ModuleType, name: str, context: LambdaContext, **changes: Any
) -> list[dict[str, Any]]:
    """Run events/<name>.json (with ``data`` changes) and return the frames sent back."""
    event = load_event(name)
    if changes:
        body = json.loads(event["body"])
        body.setdefault("data", {}).update(changes)
        event["body"] = json.dumps(body)
    return frames_answered(handler, event, context, CONN)


def _seed(moto_aws: Any, count: int, conv: str = "test_1764100800000", user: str = ADA) -> None:
    store = DynamoChatStore(moto_aws, CHAT_TABLE)
    for n in range(count):
        role = Role.USER if n % 2 == 0 else Role.ASSISTANT
        message = Message(f"m{n:03d}", role, f"text {n}", f"2026-11-25T20:00:{n:02d}.000Z")
        store.add_message(user, conv, message, title="What is a WebSocket?")


def _connect(client: Any, connection_id: str, user: str = ADA, **extra: Any) -> None:
    put_connection(client, connection_id, user, **extra)


def test_ping_answers_pong_in_its_response_and_costs_no_aws_request(
    default: ModuleType, dynamodb_calls: list[str], lambda_context: LambdaContext
) -> None:
    # GIVEN a ping as API Gateway delivers it on the two-way "ping" route
    event = load_event("ping")
    # WHEN the function handles it
    response = default.lambda_handler(event, lambda_context)
    # THEN the pong is the response body, which API Gateway sends to the client
    pong = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert pong["type"] == "pong"
    assert pong["connectionId"] == CONN
    assert pong["userId"] == "anonymous"
    # AND nothing was posted to @connections nor read from DynamoDB
    assert posted_frames(CONN) == []
    assert dynamodb_calls == []


def test_a_ping_arriving_on_default_is_posted(
    default: ModuleType, lambda_context: LambdaContext
) -> None:
    # GIVEN an API without the ping route (pings then come through $default)
    event = load_event("ping")
    event["requestContext"]["routeKey"] = "$default"
    # WHEN the function handles it, THEN it posts the pong and returns no body
    assert default.lambda_handler(event, lambda_context) == {"statusCode": 200}
    (pong,) = posted_frames(CONN)
    assert pong["type"] == "pong"


def test_a_container_answering_pings_never_makes_a_dynamodb_client(
    moto_aws: Any,
    dynamodb_calls: list[str],
    load_handler: Callable[[str], ModuleType],
    lambda_context: LambdaContext,
) -> None:
    # GIVEN a new container of the $default function, its DynamoDB clients counted
    made: list[str] = []
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register(
        "creating-client-class.dynamodb", lambda **_: made.append("dynamodb")
    )
    clear_posted()
    default = load_handler("default")
    # WHEN it answers pings and debug_status (most of what it is sent)
    _send(default, "ping", lambda_context)
    _send(default, "debug_status", lambda_context)
    # THEN it made no DynamoDB client: its cold start did not pay for one
    assert made == []
    # AND the first action that reads makes it, once
    _send(default, "list_conversations", lambda_context)
    _send(default, "list_conversations", lambda_context)
    assert made == ["dynamodb"]
    assert dynamodb_calls != []


def test_debug_status_shows_the_connection_from_the_event_alone(
    default: ModuleType, dynamodb_calls: list[str], lambda_context: LambdaContext
) -> None:
    (frame,) = _send(default, "debug_status", lambda_context)
    assert frame["connectionInfo"] == {
        "connectionId": CONN,
        "userId": ADA,
        "userEmail": "ada@example.com",
        "isAuthenticated": True,
        "connectedAt": "2025-11-25T20:00:00.000Z",
        "tokenExpiresAt": "2100-01-01T00:00:00.000Z",
    }
    assert frame["environment"] == {
        "hasApiSecretsArn": True,
        "hasConnectionsTable": True,
        "hasChatTable": True,
        "region": "us-east-1",
        "models": [],
    }
    assert dynamodb_calls == []


def test_chat_history_returns_the_newest_messages_oldest_first(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    _seed(moto_aws, 5)
    (frame,) = _send(default, "chat_history", lambda_context, limit=3)
    assert frame["type"] == "chat_history"
    assert frame["conversationId"] == "test_1764100800000"
    assert [m["messageId"] for m in frame["messages"]] == ["m002", "m003", "m004"]
    assert frame["messages"][1] == {
        "messageId": "m003",
        "role": "assistant",
        "content": "text 3",
        "timestamp": "2026-11-25T20:00:03.000Z",
        "status": "complete",
    }
    (older,) = _send(default, "chat_history", lambda_context, limit=3, before=frame["nextBefore"])
    assert [m["messageId"] for m in older["messages"]] == ["m000", "m001"]
    assert older["nextBefore"] is None


def test_chat_history_of_someone_elses_conversation_is_not_found(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    _seed(moto_aws, 2, user="someone-else")
    (frame,) = _send(default, "chat_history", lambda_context)
    assert frame["code"] == "NOT_FOUND"
    assert frame["action"] == "chat_history"
    assert "text" not in json.dumps(frame)


def test_list_conversations_newest_first(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    _seed(moto_aws, 1, conv="older")
    store = DynamoChatStore(moto_aws, CHAT_TABLE)
    store.add_message(
        ADA, "newer", Message("x", Role.USER, "hi", "2026-11-25T21:00:00.000Z"), title="Newer"
    )
    (frame,) = _send(default, "list_conversations", lambda_context)
    assert frame["type"] == "conversations"
    assert [c["conversationId"] for c in frame["conversations"]] == ["newer", "older"]
    assert frame["conversations"][0] == {
        "conversationId": "newer",
        "title": "Newer",
        "createdAt": "2026-11-25T21:00:00.000Z",
        "updatedAt": "2026-11-25T21:00:00.000Z",
    }
    assert frame["nextCursor"] is None


def test_rename_then_list_shows_the_new_title_and_other_tabs_hear_of_it(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    _seed(moto_aws, 2)
    _connect(moto_aws, "other-tab=")
    (frame,) = _send(default, "rename_conversation", lambda_context)
    assert frame == {
        "type": "conversation_renamed",
        "conversationId": "test_1764100800000",
        "title": "WebSockets explained",
    }
    assert posted_frames("other-tab=") == [frame]
    (listing,) = _send(default, "list_conversations", lambda_context)
    assert listing["conversations"][0]["title"] == "WebSockets explained"


def test_delete_removes_the_conversation_and_its_messages(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    _seed(moto_aws, 30)
    (frame,) = _send(default, "delete_conversation", lambda_context)
    assert frame == {"type": "conversation_deleted", "conversationId": "test_1764100800000"}
    (again,) = _send(default, "chat_history", lambda_context)
    assert again["code"] == "NOT_FOUND"
    (twice,) = _send(default, "delete_conversation", lambda_context)
    assert twice["code"] == "NOT_FOUND"


def test_typing_is_acknowledged_and_reaches_the_users_other_connections(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    _connect(moto_aws, CONN)
    _connect(moto_aws, "phone=")
    _connect(moto_aws, "bob=", user="bob")
    (ack,) = _send(default, "chat_typing", lambda_context)
    fields = {"conversationId": "test_1764100800000", "isTyping": True, "userId": ADA}
    assert ack == {"type": "typing_acknowledged", **fields}
    assert posted_frames("phone=") == [{"type": "user_typing", **fields}]
    assert posted_frames("bob=") == []


def test_user_status_is_acknowledged_and_broadcast(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    _connect(moto_aws, "phone=")
    (ack,) = _send(default, "user_status", lambda_context)
    assert ack == {"type": "status_updated", "status": "away", "userId": ADA}
    assert posted_frames("phone=") == [
        {"type": "user_status_change", "status": "away", "userId": ADA}
    ]


def test_expired_connections_are_ignored_even_before_dynamodb_deletes_them(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    _connect(moto_aws, "stale=", ttl={"N": "1000"})
    _send(default, "user_status", lambda_context)
    assert posted_frames("stale=") == []


def test_subscriptions_filter_what_a_connection_is_notified_of(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    # GIVEN this connection subscribed to status changes only
    _connect(moto_aws, CONN)
    (ack,) = _send(
        default, "subscribe_notifications", lambda_context, notificationTypes=["user_status_change"]
    )
    assert ack == {"type": "notifications_subscribed", "subscriptions": ["user_status_change"]}
    stored = moto_aws.get_item(TableName=CONNECTIONS_TABLE, Key={"connectionId": {"S": CONN}})[
        "Item"
    ]
    assert stored["subscriptions"] == {"SS": ["user_status_change"]}
    # WHEN another connection of the same user types, then changes status
    for name in ("chat_typing", "user_status"):
        event = load_event(name)
        event["requestContext"]["connectionId"] = "phone="
        default.lambda_handler(event, lambda_context)
    # THEN only the status change arrives here
    assert [f["type"] for f in posted_frames(CONN)] == [
        "notifications_subscribed",
        "user_status_change",
    ]


def test_anonymous_users_get_auth_required_for_every_user_action(
    default: ModuleType, lambda_context: LambdaContext
) -> None:
    for name in (
        "chat_history",
        "list_conversations",
        "rename_conversation",
        "delete_conversation",
        "chat_typing",
        "user_status",
        "subscribe_notifications",
    ):
        event = load_event(name)
        event["requestContext"]["authorizer"] = load_event("ping")["requestContext"]["authorizer"]
        before = len(posted_frames(CONN))
        default.lambda_handler(event, lambda_context)
        (frame,) = posted_frames(CONN)[before:]
        assert (frame["code"], frame["action"]) == ("AUTH_REQUIRED", name)


def test_an_expired_token_gets_token_expired(
    default: ModuleType, lambda_context: LambdaContext
) -> None:
    event = load_event("list_conversations")
    event["requestContext"]["authorizer"]["tokenExpiresAt"] = 1_000_000_000
    default.lambda_handler(event, lambda_context)
    (frame,) = posted_frames(CONN)
    assert frame["code"] == "TOKEN_EXPIRED"


@pytest.mark.parametrize(
    ("name", "changes", "code", "field"),
    [
        ("invalid_json", {}, "INVALID_JSON", None),
        ("unknown_action", {}, "UNKNOWN_ACTION", "action"),
        ("chat_history", {"limit": 500}, "INVALID_MESSAGE", "limit"),
        ("rename_conversation", {"title": ""}, "INVALID_MESSAGE", "title"),
        ("chat_typing", {"conversationId": "../../etc"}, "INVALID_MESSAGE", "conversationId"),
        ("user_status", {"status": "asleep"}, "INVALID_MESSAGE", "status"),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing_stored(
    default: ModuleType,
    moto_aws: Any,
    lambda_context: LambdaContext,
    name: str,
    changes: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    _seed(moto_aws, 3)
    before = moto_aws.scan(TableName=CHAT_TABLE)["Items"]
    (frame,) = _send(default, name, lambda_context, **changes)
    assert frame["type"] == "error"
    assert frame["code"] == code
    assert frame.get("field") == field
    assert frame["requestId"] == "L0SM9FFFvHcFzHg="
    assert moto_aws.scan(TableName=CHAT_TABLE)["Items"] == before


def test_stale_connection_is_removed_and_others_still_receive_the_frame(
    moto_aws: Any, load_handler: Callable[[str], ModuleType], lambda_context: LambdaContext
) -> None:
    # GIVEN ada on this connection, a gone one and a live tab
    _connect(moto_aws, CONN)
    _connect(moto_aws, "gone=")
    _connect(moto_aws, "tab=")
    with gateway_with_gone({"gone="}) as delivered:
        default = load_handler("default")
        # WHEN ada changes her status
        default.lambda_handler(load_event("user_status"), lambda_context)
    # THEN the live tab heard of it, and the gone connection's item is deleted
    assert delivered["tab="] == [{"type": "user_status_change", "status": "away", "userId": ADA}]
    assert delivered[CONN][0]["type"] == "status_updated"
    gone = moto_aws.get_item(TableName=CONNECTIONS_TABLE, Key={"connectionId": {"S": "gone="}})
    assert "Item" not in gone
    tab = moto_aws.get_item(TableName=CONNECTIONS_TABLE, Key={"connectionId": {"S": "tab="}})
    assert "Item" in tab


def test_chat_history_accepts_the_documented_maximum_limit(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    _seed(moto_aws, 3)
    (frame,) = _send(default, "chat_history", lambda_context, limit=100)
    assert len(frame["messages"]) == 3
    (refused,) = _send(default, "chat_history", lambda_context, limit=101)
    assert (refused["code"], refused["field"]) == ("INVALID_MESSAGE", "limit")


def test_a_long_history_is_trimmed_to_fit_one_post_with_a_cursor_to_the_rest(
    default: ModuleType, moto_aws: Any, lambda_context: LambdaContext
) -> None:
    # GIVEN 40 messages of 7,000 characters each (280 KB: more than one 128 KB post)
    store = DynamoChatStore(moto_aws, CHAT_TABLE)
    for n in range(40):
        text = f"{n:02d}" + "x" * 6998
        message = Message(f"m{n:03d}", Role.USER, text, f"2026-11-25T20:00:{n:02d}.000Z")
        store.add_message(ADA, "test_1764100800000", message, title="long")
    # WHEN the newest 40 are asked for
    (frame,) = _send(default, "chat_history", lambda_context, limit=40)
    # THEN the reply fits API Gateway's post limit and holds the newest messages
    size = len(json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode())
    assert frame["type"] == "chat_history" and size <= 128 * 1024
    ids = [m["messageId"] for m in frame["messages"]]
    assert ids[-1] == "m039" and 10 <= len(ids) < 40
    # AND its cursor leads to the older ones, so nothing is lost
    (older,) = _send(default, "chat_history", lambda_context, limit=40, before=frame["nextBefore"])
    older_ids = [m["messageId"] for m in older["messages"]]
    assert older_ids[-1] == f"m{int(ids[0][1:]) - 1:03d}"


@pytest.fixture
def throttled_default(
    moto_aws: Any, load_handler: Callable[[str], ModuleType]
) -> Iterator[Callable[[str], ModuleType]]:
    """A $default container whose DynamoDB answers one operation with throttling, always."""
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    events = boto3.DEFAULT_SESSION.events

    def load(operation: str) -> ModuleType:
        DynamoFault(events, operation, "ProvisionedThroughputExceededException", times=None)
        clear_posted()
        return load_handler("default")

    yield load
    boto3.DEFAULT_SESSION = None


def test_a_delete_interrupted_by_throttling_is_retryable_and_finished_by_the_retry(
    moto_aws: Any,
    throttled_default: Callable[[str], ModuleType],
    load_handler: Callable[[str], ModuleType],
    lambda_context: LambdaContext,
) -> None:
    # GIVEN a conversation, and DynamoDB refusing every batch delete
    _seed(moto_aws, 3)
    default = throttled_default("BatchWriteItem")
    # WHEN it is deleted THEN the client is told to retry, and the conversation is
    # already out of the list: nothing half-visible
    (error,) = _send(default, "delete_conversation", lambda_context)
    assert (error["code"], error["retryable"]) == ("INTERNAL_ERROR", True)
    (listed,) = _send(default, "list_conversations", lambda_context)
    assert listed["conversations"] == []
    # WHEN DynamoDB recovers and the client retries THEN the delete completes
    boto3.DEFAULT_SESSION = None
    healthy = load_handler("default")
    (done,) = _send(healthy, "delete_conversation", lambda_context)
    assert done == {"type": "conversation_deleted", "conversationId": "test_1764100800000"}
    assert moto_aws.scan(TableName=CHAT_TABLE)["Items"] == []


def test_a_rename_throttled_throughout_is_a_retryable_internal_error(
    moto_aws: Any, throttled_default: Callable[[str], ModuleType], lambda_context: LambdaContext
) -> None:
    _seed(moto_aws, 1)
    default = throttled_default("UpdateItem")
    (error,) = _send(default, "rename_conversation", lambda_context)
    assert (error["code"], error["retryable"]) == ("INTERNAL_ERROR", True)
    title = DynamoChatStore(moto_aws, CHAT_TABLE).conversation(ADA, "test_1764100800000")
    assert title is not None and title.title == "What is a WebSocket?"
