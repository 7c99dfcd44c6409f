"""Regenerate and edit through the real chat function (moto, a real SSE model server):
the new answer streams like any reply and becomes current, what it replaced stays
retrievable as a version, and every refusal names what to do and stores nothing."""

from __future__ import annotations

import json
import time
from typing import Any

from realtime_chat.domain import MessageStatus, Role
from tests.conftest import LambdaContext, load_event
from tests.handlers.conftest import CONN, CONV, PHONE, Chat
from tests.support.aws import CHAT_TABLE, clear_posted, frames_answered


def _of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == kind]


def _items(chat: Chat) -> list[dict[str, Any]]:
    return chat.dynamodb.scan(TableName=CHAT_TABLE)["Items"]


def _history(chat: Chat, context: LambdaContext) -> list[dict[str, Any]]:
    """chat_history through the real $default function."""
    event = load_event("chat_history")
    body = json.loads(event["body"])
    body["data"] = {"conversationId": CONV}
    event["body"] = json.dumps(body)
    (frame,) = frames_answered(chat.load("default"), event, context, CONN)
    messages: list[dict[str, Any]] = frame["messages"]
    return messages


def _versions(chat: Chat, context: LambdaContext, message_id: str) -> dict[str, Any]:
    event = load_event("message_versions")
    body = json.loads(event["body"])
    body["data"]["messageId"] = message_id
    event["body"] = json.dumps(body)
    (frame,) = frames_answered(chat.load("default"), event, context, CONN)
    return frame


def test_a_regenerated_answer_streams_to_every_tab_and_becomes_current(
    chat: Chat, lambda_context: LambdaContext
) -> None:
    # GIVEN an answered turn
    chat.send(message="What is a WebSocket?")
    question = _of_type(chat.frames(), "message_received")[0]["messageId"]
    first = chat.frames()[-1]
    clear_posted()
    # WHEN the user regenerates the answer
    chat.send("regenerate_reply")
    # THEN both tabs hear it acknowledged, then the new answer streams to both
    for tab in (CONN, PHONE):
        ack, *chunks, answer = chat.frames(tab)
        assert ack["type"] == "message_received" and ack["regenerated"] is True
        assert ack["messageId"] == question and ack["clientMessageId"] == "r-0001"
        assert answer["type"] == "ai_response" and answer["finishReason"] == "stop"
        assert answer["messageId"] != first["messageId"]
        assert "".join(c["delta"] for c in chunks) == answer["content"]
    # AND the model was asked the same question again, without the old answer
    prompt = chat.model.requests[-1]["messages"]
    assert prompt[-1] == {"role": "user", "content": "What is a WebSocket?"}
    assert all(m["content"] != first["content"] for m in prompt)
    # AND history shows the question and the new answer, version 2 of 2
    messages = _history(chat, lambda_context)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["messageId"] == answer["messageId"]
    assert (messages[1]["version"], messages[1]["versions"]) == (2, 2)
    assert "versions" not in messages[0]
    # AND the versions request lists the earlier answer
    versions = _versions(chat, lambda_context, question)
    assert versions["texts"] == []
    (earlier,) = versions["answers"]
    assert (earlier["messageId"], earlier["content"], earlier["version"]) == (
        first["messageId"],
        first["content"],
        1,
    )


def test_a_regenerate_retried_with_its_client_message_id_runs_the_model_once(
    chat: Chat,
) -> None:
    # GIVEN a regenerated turn
    chat.send(message="hello")
    chat.send("regenerate_reply")
    answer = chat.frames()[-1]
    clear_posted()
    # WHEN the client, unsure it arrived, sends the same regenerate again
    chat.send("regenerate_reply")
    # THEN it gets the acknowledgement and the stored answer, and nothing new runs
    ack, again = chat.frames()
    assert ack["type"] == "message_received" and ack["clientMessageId"] == "r-0001"
    assert (again["type"], again["messageId"]) == ("ai_response", answer["messageId"])
    assert len(chat.model.requests) == 2
    assert sum(i["sk"]["S"].startswith("VER#") for i in _items(chat)) == 1


def test_a_regenerate_while_the_reply_streams_is_refused_and_changes_nothing(
    chat: Chat,
) -> None:
    # GIVEN a reply still streaming
    chat.model.scenario.delay = 0.05
    chat.start(message="tell me a long story")
    # WHEN a tab asks to regenerate it meanwhile
    chat.start("regenerate_reply", clientMessageId="r-early")
    chat.replies.wait()
    # THEN it is refused, saying to stop the reply first, and the reply ends normally
    (refusal,) = _of_type(chat.frames(), "error")
    assert refusal["code"] == "INVALID_MESSAGE" and refusal["field"] == "conversationId"
    assert "stop_reply" in refusal["message"]
    assert refusal["clientMessageId"] == "r-early"
    assert chat.frames()[-1]["type"] == "ai_response"
    assert len(chat.model.requests) == 1
    assert not any(i["sk"]["S"].startswith("VER#") for i in _items(chat))


def test_an_edit_replaces_the_text_and_answers_it_keeping_both_as_versions(
    chat: Chat, lambda_context: LambdaContext
) -> None:
    # GIVEN an answered turn
    chat.send(message="What is a WebSocket?")
    question = _of_type(chat.frames(), "message_received")[0]["messageId"]
    first = chat.frames()[-1]
    clear_posted()
    # WHEN the user edits their message
    chat.send("edit_message", messageId=question, message="What is HTTP/2?")
    # THEN every tab hears of the edit, then gets the new answer to the new text
    for tab in (CONN, PHONE):
        ack, *_chunks, answer = chat.frames(tab)
        assert (ack["type"], ack["edited"], ack["message"]) == (
            "message_received",
            True,
            "What is HTTP/2?",
        )
        assert answer["content"].startswith("You said: What is HTTP/2?")
    # AND the model saw the new text only
    prompt = chat.model.requests[-1]["messages"]
    assert prompt[-1] == {"role": "user", "content": "What is HTTP/2?"}
    assert not any("WebSocket" in m["content"] for m in prompt)
    # AND history shows the edited question (same id) and the new answer, as versions 2
    user, assistant = _history(chat, lambda_context)
    assert (user["messageId"], user["content"], user["versions"]) == (
        question,
        "What is HTTP/2?",
        2,
    )
    assert assistant["versions"] == 2
    # AND the old text and the old answer are kept
    versions = _versions(chat, lambda_context, question)
    assert [t["content"] for t in versions["texts"]] == ["What is a WebSocket?"]
    assert [a["messageId"] for a in versions["answers"]] == [first["messageId"]]


def test_editing_an_earlier_message_is_refused_naming_the_one_that_can_be(chat: Chat) -> None:
    # GIVEN two answered turns
    chat.send(message="first", clientMessageId="c-1")
    chat.send(message="second", clientMessageId="c-2")
    first, second = (a["messageId"] for a in _of_type(chat.frames(), "message_received"))
    before = _items(chat)
    clear_posted()
    # WHEN the user tries to edit the first
    chat.send("edit_message", messageId=first, message="changed")
    # THEN it is refused, naming the message that can be edited, and nothing changed
    (refusal,) = chat.frames()
    assert (refusal["code"], refusal["field"]) == ("INVALID_MESSAGE", "messageId")
    assert second in refusal["message"]
    assert _items(chat) == before
    assert len(chat.model.requests) == 2


def test_regenerate_and_edit_of_a_conversation_that_does_not_exist_are_not_found(
    chat: Chat,
) -> None:
    # WHEN a regenerate and an edit name a conversation the user does not have
    chat.send("regenerate_reply", conversationId="nope")
    chat.send("edit_message", conversationId="nope", messageId="m1", message="x")
    # THEN both are NOT_FOUND and nothing is stored or asked
    codes = [(f["code"], f["action"]) for f in chat.frames()]
    assert codes == [("NOT_FOUND", "regenerate_reply"), ("NOT_FOUND", "edit_message")]
    assert _items(chat) == []
    assert chat.model.requests == []


def test_a_regenerate_costs_a_message_and_is_refused_past_the_limit(chat: Chat) -> None:
    # GIVEN a user allowed one message a minute, who used it
    chat.reload(CHAT_MESSAGES_PER_MINUTE="1")
    chat.send(message="hello")
    clear_posted()
    # WHEN they regenerate at once
    chat.send("regenerate_reply")
    # THEN it is RATE_LIMITED, naming the conversation, and nothing changed
    (refusal,) = chat.frames()
    assert refusal["code"] == "RATE_LIMITED" and refusal["conversationId"] == CONV
    assert refusal["clientMessageId"] == "r-0001"
    assert len(chat.model.requests) == 1
    assert [m.role for m in chat.stored()] == [Role.USER, Role.ASSISTANT]
    assert chat.stored()[1].status is MessageStatus.COMPLETE


def test_a_regenerated_reply_can_be_stopped_from_another_tab(chat: Chat) -> None:
    # GIVEN an answered turn, regenerated with a slow provider
    chat.send(message="hello")
    chat.model.scenario.delay = 0.05
    chat.model.scenario.tokens = 200
    clear_posted()
    chat.start("regenerate_reply")
    # WHEN the phone stops it once the first chunk is out
    deadline = time.time() + 5
    while not _of_type(chat.frames(PHONE), "ai_response_chunk") and time.time() < deadline:
        time.sleep(0.02)
    stop = load_event("chat_message")
    stop["requestContext"]["connectionId"] = PHONE
    stop["requestContext"]["routeKey"] = "$default"
    stop["body"] = json.dumps({"action": "stop_reply", "data": {"conversationId": CONV}})
    chat.load("default").lambda_handler(stop, chat.context)
    chat.replies.wait()
    # THEN both tabs end with the regenerated answer, stopped
    for tab in (CONN, PHONE):
        assert chat.frames(tab)[-1]["finishReason"] == "stopped"
    assert chat.stored()[-1].status is MessageStatus.STOPPED
