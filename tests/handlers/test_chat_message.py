"""A chat turn end to end through the real chat_message handler: moto for DynamoDB,
Secrets Manager and @connections, the async self-invoke through a local Lambda
Invoke API, and a real OpenAI-compatible SSE server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local_stack.ai_upstream.provider_server import MODEL_NAME
from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import Message, Role
from tests.conftest import LambdaContext, load_event
from tests.handlers.conftest import ADA, CONN, CONV, PHONE, Chat
from tests.support.aws import (
    CHAT_TABLE,
    CONNECTIONS_TABLE,
    gateway_with_gone,
    put_connection,
)


def _chunks(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == "ai_response_chunk"]


def test_a_chat_turn_is_acknowledged_streamed_and_stored(chat: Chat) -> None:
    # WHEN ada sends a message
    chat.send(message="What is a WebSocket?")
    frames = chat.frames()
    # THEN the acknowledgement comes first, naming her message
    ack = frames[0]
    assert ack["type"] == "message_received"
    assert (ack["conversationId"], ack["clientMessageId"]) == (CONV, "c-0001")
    # AND the reply streams as numbered chunks without gaps
    chunks = _chunks(frames)
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert chunks[0]["delta"] == "You said: "
    # AND ends with the whole answer, equal to the chunks joined
    final = frames[-1]
    assert final["type"] == "ai_response"
    assert final["action"] == "ai_response"
    assert final["content"] == "".join(c["delta"] for c in chunks)
    assert final["content"].startswith("You said: What is a WebSocket? token0 ")
    assert (final["model"], final["finishReason"], final["userId"]) == (MODEL_NAME, "stop", ADA)
    assert final["usage"]["completionTokens"] > 0
    assert {c["messageId"] for c in chunks} == {final["messageId"]}
    # AND her other connection saw exactly the same frames
    assert chat.frames(PHONE) == frames
    # AND both messages are stored, the conversation titled by the question
    stored = chat.stored()
    assert [(m.role, m.message_id) for m in stored] == [
        (Role.USER, ack["messageId"]),
        (Role.ASSISTANT, final["messageId"]),
    ]
    assert stored[1].content == final["content"]
    assert stored[1].model == MODEL_NAME
    conversation = DynamoChatStore(chat.dynamodb, CHAT_TABLE).conversation(ADA, CONV)
    assert conversation is not None and conversation.title == "What is a WebSocket?"


@pytest.mark.parametrize("chunked", [True, False])
def test_tokens_are_coalesced_into_few_posts_and_the_first_goes_out_at_once(
    chat: Chat, chunked: bool
) -> None:
    # GIVEN a model that streams 150 tokens over about a second
    chat.model.scenario.chunked = chunked
    chat.model.scenario.tokens = 150
    chat.model.scenario.delay = 0.006
    chat.send()
    chunks = _chunks(chat.frames())
    # THEN far fewer posts than tokens were made, the first holding only the first token
    assert chunks[0]["delta"] == "You said: "
    assert 3 <= len(chunks) <= 40
    assert "".join(c["delta"] for c in chunks).count("token") == 150


def test_anonymous_chat_gets_the_junokit_auth_error_and_nothing_is_stored(chat: Chat) -> None:
    chat.handler.lambda_handler(load_event("chat_message_anonymous"), chat.context)
    (frame,) = chat.frames()
    assert frame["code"] == "AUTH_REQUIRED"
    assert frame["message"] == (
        "Authentication required for chat messages. Please sign in to use real-time chat."
    )
    assert frame["debugInfo"] == {
        "connectionId": CONN,
        "userId": "anonymous",
        "requiresAuth": True,
        "action": "chat_message",
    }
    assert chat.model.requests == []
    assert chat.dynamodb.scan(TableName=CHAT_TABLE)["Items"] == []


def test_a_retried_client_message_id_is_stored_and_answered_once(chat: Chat) -> None:
    chat.send(message="Only once, please")
    chat.send(message="Only once, please")
    acks = [f for f in chat.frames() if f["type"] == "message_received"]
    assert len(acks) == 2 and acks[0]["messageId"] == acks[1]["messageId"]
    assert len(chat.model.requests) == 1
    assert [m.role for m in chat.stored()] == [Role.USER, Role.ASSISTANT]


def test_the_model_gets_the_newest_history_then_the_current_message_once(chat: Chat) -> None:
    # GIVEN a conversation with ten earlier messages (HISTORY_MESSAGES=4)
    store = DynamoChatStore(chat.dynamodb, CHAT_TABLE)
    for n in range(10):
        role = Role.USER if n % 2 == 0 else Role.ASSISTANT
        stamp = f"2026-01-01T00:00:{n:02d}.000Z"
        store.add_message(ADA, CONV, Message(f"old{n}", role, f"earlier {n}", stamp), title="t")
    # WHEN a new message is sent
    chat.send(message="And now?")
    (request,) = chat.model.requests
    # THEN the prompt is the system prompt, the 4 newest earlier messages, then it, once
    assert [(m["role"], m["content"]) for m in request["messages"]] == [
        ("system", "You are a helpful assistant."),
        ("user", "earlier 6"),
        ("assistant", "earlier 7"),
        ("user", "earlier 8"),
        ("assistant", "earlier 9"),
        ("user", "And now?"),
    ]
    assert request["stream"] is True
    assert request["model"] == MODEL_NAME


def test_a_rejected_key_says_ai_not_configured_and_keeps_the_message(chat: Chat) -> None:
    chat.model.scenario.api_key = "some-other-key"
    chat.send(message="Hello?")
    error = chat.frames()[-1]
    assert error["code"] == "AI_NOT_CONFIGURED"
    assert "rejected the API key" in error["message"]
    assert "sk-local" not in json.dumps(chat.frames())
    assert [m.content for m in chat.stored()] == ["Hello?"]


def test_a_junokit_shaped_secret_works_unchanged(chat: Chat) -> None:
    chat.put_secret({"openRouterApiKey": "sk-local"})
    chat.send()
    assert chat.frames()[-1]["type"] == "ai_response"


def test_a_rotated_key_is_picked_up_after_the_provider_rejects_the_cached_one(chat: Chat) -> None:
    # GIVEN a container that cached sk-local (the reply reads its key ahead, from the cache)
    chat.send(message="first")
    # WHEN the key is rotated and the provider refuses the old one
    chat.put_secret({"apiKey": "sk-rotated"})
    chat.model.scenario.api_key = "sk-rotated"
    chat.send(message="second", clientMessageId="c-0002")
    # THEN the reply reads the secret again (not the key it read ahead) and is answered
    assert chat.frames()[-1]["type"] == "ai_response"
    assert chat.model.keys == ["sk-local", "sk-local", "sk-rotated"]
    # AND the next turn uses the new key at once: the refresh replaced the cached key
    chat.send(message="third", clientMessageId="c-0003")
    assert chat.frames()[-1]["type"] == "ai_response"
    assert chat.model.keys[3:] == ["sk-rotated"]


def test_throttling_before_the_first_token_is_retried(chat: Chat) -> None:
    chat.model.scenario.statuses = [429, 503]
    chat.send()
    assert chat.frames()[-1]["type"] == "ai_response"
    assert len(chat.model.requests) == 3


def test_a_provider_still_failing_after_retries_is_ai_unavailable(chat: Chat) -> None:
    chat.model.scenario.statuses = [503, 503, 503]
    chat.send()
    frames = chat.frames()
    assert _chunks(frames) == []
    assert (frames[-1]["code"], frames[-1]["retryable"]) == ("AI_UNAVAILABLE", True)
    assert [m.role for m in chat.stored()] == [Role.USER]


@pytest.mark.parametrize(
    "failure",
    [
        {"break_after": 5},
        {"break_after": 5, "chunked": False},
        {"stall_after": 5, "stall_seconds": 3.0},
        {"stall_after": 5, "stall_seconds": 3.0, "chunked": False},
    ],
)
def test_a_stream_that_breaks_keeps_what_was_streamed(chat: Chat, failure: dict[str, Any]) -> None:
    for name, value in failure.items():
        setattr(chat.model.scenario, name, value)
    chat.send(message="Tell me everything")
    frames = chat.frames()
    partial = "".join(c["delta"] for c in _chunks(frames))
    assert partial == "You said: Tell me everything token0 "  # the first 5 tokens
    final, error = frames[-2], frames[-1]
    assert (final["type"], final["finishReason"], final["content"]) == (
        "ai_response",
        "error",
        partial,
    )
    assert (error["code"], error["retryable"]) == ("AI_UNAVAILABLE", True)
    assert len(chat.model.requests) == 1  # no retry once text was streamed
    stored = chat.stored()
    assert (stored[-1].content, stored[-1].finish_reason) == (partial, "error")


def test_a_connection_gone_mid_stream_is_dropped_and_the_answer_still_stored(
    chat: Chat, load_handler: Callable[[str], ModuleType], lambda_context: LambdaContext
) -> None:
    # GIVEN ada's phone disconnected without API Gateway telling us ($disconnect missed)
    with gateway_with_gone({PHONE}) as delivered:
        chat.reload()
        # WHEN she sends a message from her laptop
        chat.send()
    # THEN the laptop gets the whole reply, the phone's item is gone, the answer is stored
    assert delivered[CONN][-1]["type"] == "ai_response"
    assert PHONE not in delivered
    item = chat.dynamodb.get_item(TableName=CONNECTIONS_TABLE, Key={"connectionId": {"S": PHONE}})
    assert "Item" not in item
    assert [m.role for m in chat.stored()] == [Role.USER, Role.ASSISTANT]


def test_an_overlong_message_is_refused_and_nothing_is_stored(chat: Chat) -> None:
    chat.send(message="x" * 8001)
    (frame,) = chat.frames()
    assert (frame["code"], frame["field"]) == ("MESSAGE_TOO_LARGE", "message")
    assert chat.dynamodb.scan(TableName=CHAT_TABLE)["Items"] == []


def test_another_users_conversation_id_starts_their_own_conversation(chat: Chat) -> None:
    # GIVEN ada's conversation
    chat.send(message="ada's secret")
    # WHEN eve sends a message with the same conversation id
    event = load_event("chat_message")
    event["requestContext"]["authorizer"]["userId"] = "eve"
    event["requestContext"]["connectionId"] = "eve-conn="
    chat.handler.lambda_handler(event, chat.context)
    chat.replies.wait()
    # THEN eve's prompt never contains ada's messages, and ada's history is unchanged
    assert "ada's secret" not in json.dumps(chat.model.requests[-1])
    assert [m.role for m in chat.stored(user="eve")] == [Role.USER, Role.ASSISTANT]
    assert chat.stored()[0].content == "ada's secret"
    assert len(chat.stored()) == 2


def test_a_connection_whose_token_expired_receives_none_of_the_users_data(chat: Chat) -> None:
    # GIVEN ada's old tab, still open but holding a token that expired a minute ago
    expired = str(int(time.time()) - 60)
    put_connection(chat.dynamodb, "old-tab=", ADA, tokenExpiresAt={"N": expired})
    # WHEN she chats from her laptop
    chat.send(message="private thoughts")
    # THEN the laptop and the phone get the turn, the old tab gets nothing at all
    assert chat.frames()[-1]["type"] == "ai_response"
    assert chat.frames(PHONE) == chat.frames()
    assert chat.frames("old-tab=") == []


@pytest.mark.parametrize(
    "fault",
    [
        {"garbage_after": 4},  # a data line that is not JSON
        {"error_after": 4},  # an error event in the middle of the stream
    ],
)
def test_a_stream_with_a_bad_event_keeps_what_was_streamed_and_says_so(
    chat: Chat, fault: dict[str, Any]
) -> None:
    for name, value in fault.items():
        setattr(chat.model.scenario, name, value)
    chat.send(message="Tell me")
    frames = chat.frames()
    partial = "".join(c["delta"] for c in _chunks(frames))
    final, error = frames[-2], frames[-1]
    assert (final["type"], final["finishReason"], final["content"]) == (
        "ai_response",
        "error",
        partial,
    )
    assert (error["code"], error["retryable"], error["clientMessageId"]) == (
        "AI_UNAVAILABLE",
        True,
        "c-0001",
    )
    assert chat.stored()[-1].content == partial


def test_a_200_that_is_not_a_stream_is_ai_unavailable_and_nothing_is_invented(chat: Chat) -> None:
    chat.model.scenario.plain_body = {"error": {"message": "model overloaded"}}
    chat.send()
    frames = chat.frames()
    assert _chunks(frames) == []
    assert (frames[-1]["code"], frames[-1]["retryable"]) == ("AI_UNAVAILABLE", True)
    assert [m.role for m in chat.stored()] == [Role.USER]


def test_a_first_message_full_of_terminal_controls_makes_a_plain_title_that_rename_accepts(
    chat: Chat, load_handler: Callable[[str], ModuleType]
) -> None:
    # GIVEN a first message that would clear a terminal, colour it and ring its bell
    chat.send(message="\x1b[2J\x1b[31mRED\x07 \u202etxet\u202c  alert \x00")
    # WHEN the conversations are listed
    default = load_handler("default")
    listing = load_event("list_conversations")
    default.lambda_handler(listing, chat.context)
    (conversation,) = chat.frames()[-1]["conversations"]
    # THEN its title holds the words only
    assert conversation["title"] == "RED txet alert"
    # AND renaming it to that same title is accepted and changes nothing
    rename = load_event("rename_conversation")
    rename["body"] = json.dumps(
        {
            "action": "rename_conversation",
            "data": {"conversationId": CONV, "title": "RED txet alert"},
        }
    )
    default.lambda_handler(rename, chat.context)
    renamed = chat.frames()[-1]
    assert (renamed["type"], renamed["title"]) == ("conversation_renamed", "RED txet alert")
    # AND a rename with controls of its own is cleaned the same way, not refused
    rename["body"] = json.dumps(
        {
            "action": "rename_conversation",
            "data": {"conversationId": CONV, "title": "\x1b[1mBold\x1b[0m\tnew"},
        }
    )
    default.lambda_handler(rename, chat.context)
    assert chat.frames()[-1]["title"] == "Bold new"
