"""Chat turns as real clients make them: retries, several tabs sending at once, failed
replies, limits at a minute's boundary, and faults of the services around the turn.
Every test goes through the real chat_message handler."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import Message, MessageStatus, Role, TurnState
from realtime_chat.frames import iso
from tests.conftest import LambdaContext, load_event
from tests.handlers.conftest import ADA, CONN, CONV, PHONE, Chat
from tests.support.aws import CHAT_TABLE, clear_posted, posted_frames, put_connection


def _event(connection_id: str = CONN, **changes: Any) -> dict[str, Any]:
    event = load_event("chat_message")
    event["requestContext"]["connectionId"] = connection_id
    body = json.loads(event["body"])
    body["data"].update(changes)
    event["body"] = json.dumps(body)
    return event


def _of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == kind]


def _user_messages(chat: Chat) -> list[Message]:
    items = chat.dynamodb.scan(TableName=CHAT_TABLE)["Items"]
    return [
        Message(i["messageId"]["S"], Role.USER, i["content"]["S"], i["timestamp"]["S"])
        for i in items
        if i["sk"]["S"].startswith("MSG#") and i["role"]["S"] == "user"
    ]


def test_a_turn_stores_its_question_and_its_streaming_answer_in_one_write(chat: Chat) -> None:
    # GIVEN a new container of the chat function, its DynamoDB operations counted
    calls: list[str] = []
    chat.monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # restored afterwards
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    chat.reload()
    # WHEN a turn is sent and answered
    chat.send(message="hello")
    ack, *_chunks, answer = chat.frames()
    # THEN three transactions made it: the charge with its clientMessageId's claim, the
    # question with its answer's start, and the ending (the reply did not store its
    # start on its own)
    assert calls.count("TransactWriteItems") == 3
    # AND the answer stored is the one streamed, after its question
    stored = chat.stored()
    assert [m.message_id for m in stored] == [ack["messageId"], answer["messageId"]]
    assert stored[1].status is MessageStatus.COMPLETE


def test_a_retry_without_a_conversation_id_finds_the_first_turn(chat: Chat) -> None:
    # WHEN a client retries a first message that named no conversation
    chat.send(conversationId=None, message="retry me", clientMessageId="retry-0001")
    chat.send(conversationId=None, message="retry me", clientMessageId="retry-0001")
    # THEN one conversation, one stored message, one model call
    acks = _of_type(chat.frames(), "message_received")
    assert len(acks) == 2 and acks[0] == acks[1]
    assert len(_user_messages(chat)) == 1
    assert len(chat.model.requests) == 1
    page = DynamoChatStore(chat.dynamodb, CHAT_TABLE).conversations(ADA, limit=10, cursor=None)
    assert [c.conversation_id for c in page.items] == [acks[0]["conversationId"]]


def test_a_retry_of_a_failed_turn_runs_the_reply_again(chat: Chat) -> None:
    # GIVEN the provider fails every attempt of the first try
    chat.model.scenario.statuses = [503, 503, 503]
    chat.send(message="are you there?")
    assert chat.frames()[-1]["code"] == "AI_UNAVAILABLE"
    assert chat.frames()[-1]["clientMessageId"] == "c-0001"
    # WHEN the client retries the same message once the provider is back
    chat.send(message="are you there?")
    # THEN it gets the same acknowledgement and, this time, the answer
    acks = _of_type(chat.frames(), "message_received")
    assert acks[0] == acks[1]
    final = chat.frames()[-1]
    assert final["type"] == "ai_response"
    assert final["content"].startswith("You said: are you there?")
    # AND there is still one user message, now answered
    assert len(_user_messages(chat)) == 1
    assert [m.role for m in chat.stored()] == [Role.USER, Role.ASSISTANT]


def test_a_retry_of_an_answered_turn_gets_the_stored_answer_again(chat: Chat) -> None:
    # GIVEN an answered turn
    chat.send(message="What is a WebSocket?")
    answer = chat.frames()[-1]
    clear_posted()
    # WHEN the client that lost its connection retries it
    chat.send(message="What is a WebSocket?")
    # THEN only that client gets the acknowledgement and the stored answer, unchanged
    ack, again = chat.frames()
    assert ack["type"] == "message_received"
    assert {k: again[k] for k in ("type", "messageId", "content", "finishReason", "model")} == {
        k: answer[k] for k in ("type", "messageId", "content", "finishReason", "model")
    }
    assert chat.frames(PHONE) == []
    assert len(chat.model.requests) == 1


def test_a_retry_of_a_pending_turn_gets_the_acknowledgement_only(chat: Chat) -> None:
    # GIVEN a turn whose reply is being generated right now
    store = DynamoChatStore(chat.dynamodb, CHAT_TABLE)
    question = Message("q1", Role.USER, "slow one", iso(time.time()))
    store.begin_turn(ADA, CONV, question, title="t", client_message_id="slow-1")
    # WHEN it is retried
    chat.send(message="slow one", clientMessageId="slow-1")
    # THEN the client hears it was received, and no second reply starts
    (ack,) = chat.frames()
    assert (ack["type"], ack["messageId"]) == ("message_received", "q1")
    assert chat.model.requests == []


def test_a_retry_of_a_turn_whose_reply_died_runs_the_reply_again(chat: Chat) -> None:
    # GIVEN a turn accepted ten minutes ago whose reply invocation died (no ending stored;
    # the reply function's timeout is 300 s)
    store = DynamoChatStore(chat.dynamodb, CHAT_TABLE)
    question = Message("q1", Role.USER, "anyone?", iso(time.time() - 600))
    store.begin_turn(ADA, CONV, question, title="t", client_message_id="lost-1")
    # WHEN the client retries it
    chat.send(message="anyone?", clientMessageId="lost-1")
    # THEN it is answered, without a second user message
    assert chat.frames()[-1]["type"] == "ai_response"
    assert chat.frames()[-1]["content"].startswith("You said: anyone?")
    assert len(_user_messages(chat)) == 1


def _from_tabs_at_once(
    chat: Chat,
    load_handler: Callable[[str], ModuleType],
    context: LambdaContext,
    data: list[dict[str, Any]],
) -> list[str]:
    """Each ``data`` sent from a tab of ada's own (its own connection and its own Lambda
    container), all at the same moment; the tabs, once every reply is done."""
    tabs = [f"tab-{n}=" for n in range(len(data))]
    for tab in tabs:
        put_connection(chat.dynamodb, tab, ADA)
    handlers = [load_handler("message") for _ in tabs]
    barrier = threading.Barrier(len(tabs))

    def send(n: int) -> None:
        barrier.wait()
        handlers[n].lambda_handler(_event(tabs[n], **data[n]), context)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(tabs))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    chat.replies.wait()
    return tabs


def test_identical_sends_from_four_tabs_at_once_make_one_turn(
    chat: Chat, load_handler: Callable[[str], ModuleType], lambda_context: LambdaContext
) -> None:
    # WHEN four tabs of ada send the same clientMessageId at the same moment
    same = {"clientMessageId": "same-1"}
    tabs = _from_tabs_at_once(chat, load_handler, lambda_context, [same] * 4)
    # THEN one message is stored, the model is called once, nobody got an error
    assert len(_user_messages(chat)) == 1
    assert len(chat.model.requests) == 1
    everything = [f for tab in tabs for f in posted_frames(tab)]
    assert _of_type(everything, "error") == []
    # AND every sender got the same acknowledgement
    acks = {json.dumps(_of_type(posted_frames(tab), "message_received")[0]) for tab in tabs}
    assert len(acks) == 1


def test_four_messages_at_once_from_a_fresh_user_are_all_accepted(
    chat: Chat, load_handler: Callable[[str], ModuleType], lambda_context: LambdaContext
) -> None:
    # The reported defect: 1 accepted and 3 refused with RATE_LIMITED at 1/20.
    data = [{"clientMessageId": f"m-{n}", "message": f"message {n}"} for n in range(4)]
    tabs = _from_tabs_at_once(chat, load_handler, lambda_context, data)
    assert len(_user_messages(chat)) == 4
    assert _of_type([f for tab in tabs for f in posted_frames(tab)], "error") == []


def test_the_limit_holds_at_a_minute_boundary_and_retries_are_free(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a limit of 2 messages a minute and a clock frozen a moment before a new minute
    boundary = 1_800_000_000.0 - 1_800_000_000.0 % 60
    clock = [boundary - 0.001]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    chat.reload(CHAT_MESSAGES_PER_MINUTE="2")
    # WHEN two messages are sent, then the new minute starts
    chat.send(message="one", clientMessageId="c-1")
    chat.send(message="two", clientMessageId="c-2")
    clock[0] = boundary
    # THEN a third is still refused: the minute's boundary gives nothing back
    chat.send(message="three", clientMessageId="c-3")
    refused = chat.frames()[-1]
    assert (refused["code"], refused["retryAfter"], refused["clientMessageId"]) == (
        "RATE_LIMITED",
        30,
        "c-3",
    )
    # AND a retry of an accepted message is answered, not refused, and costs nothing
    chat.send(message="two", clientMessageId="c-2")
    assert chat.frames()[-1]["type"] == "ai_response"
    # AND thirty seconds later exactly one more message passes
    clock[0] = boundary + 30
    chat.send(message="four", clientMessageId="c-4")
    chat.send(message="five", clientMessageId="c-5")
    codes = [f.get("code") for f in chat.frames() if f["type"] in ("error", "message_received")]
    assert codes[-2:] == [None, "RATE_LIMITED"]
    assert sorted(m.content for m in _user_messages(chat)) == ["four", "one", "two"]


def test_a_user_past_the_daily_token_budget_is_told_when_it_renews(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a daily budget smaller than what one reply of the local model uses
    midnight = 1_800_000_000.0 - 1_800_000_000.0 % 86_400
    monkeypatch.setattr(time, "time", lambda: midnight + 23 * 3600)
    chat.reload(DAILY_TOKEN_BUDGET="10")
    # WHEN the user chats twice
    chat.send(message="one", clientMessageId="d-1")
    assert chat.frames()[-1]["type"] == "ai_response"  # the first reply spends the budget
    chat.send(message="two", clientMessageId="d-2")
    # THEN the second is refused until 00:00 UTC, saying so, and is not stored
    refused = chat.frames()[-1]
    assert (refused["code"], refused["retryAfter"], refused["clientMessageId"]) == (
        "RATE_LIMITED",
        3600,
        "d-2",
    )
    assert "daily AI token budget" in refused["message"]
    assert [m.content for m in _user_messages(chat)] == ["one"]


def test_ai_not_configured_says_what_to_do_and_keeps_the_arn_in_the_log(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    chat.put_secret({"somethingElse": "x"})
    with caplog.at_level(logging.INFO):
        chat.send()
    error = chat.frames()[-1]
    assert error["code"] == "AI_NOT_CONFIGURED"
    assert error["message"] == (
        'The AI secret has no API key. An operator must put {"apiKey": "<key>"} into the AI secret.'
    )
    assert error["requestId"]
    assert chat.secret_arn not in json.dumps(chat.frames())
    assert "123456789012" not in json.dumps(chat.frames())
    assert any(chat.secret_arn in getattr(r, "reason", "") for r in caplog.records)
    assert chat.model.requests == []
    turn = DynamoChatStore(chat.dynamodb, CHAT_TABLE).find_turn(ADA, "c-0001")
    assert turn is not None and turn.state is TurnState.FAILED


def test_a_missing_secret_is_not_configured(chat: Chat) -> None:
    import boto3

    boto3.client("secretsmanager").delete_secret(
        SecretId=chat.secret_arn, ForceDeleteWithoutRecovery=True
    )
    chat.send()
    error = chat.frames()[-1]
    assert (error["code"], error.get("retryable")) == ("AI_NOT_CONFIGURED", None)
    assert "could not be read" in error["message"]


def test_an_unreachable_secrets_manager_is_unavailable_and_retryable(chat: Chat) -> None:
    # GIVEN Secrets Manager cannot be reached from the reply (nothing listens there)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    chat.reload(AWS_ENDPOINT_URL_SECRETS_MANAGER=dead)
    chat.send(message="hello?")
    error = chat.frames()[-1]
    assert (error["code"], error["retryable"]) == ("AI_UNAVAILABLE", True)
    # AND once it is back, the retry answers
    chat.monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER")
    chat.reload()
    chat.send(message="hello?")
    assert chat.frames()[-1]["type"] == "ai_response"


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("TransactWriteItems", "ThrottlingException"),
        ("TransactWriteItems", "ProvisionedThroughputExceededException"),
        ("Query", "ProvisionedThroughputExceededException"),
    ],
)
def test_brief_dynamodb_throttling_is_retried_and_the_turn_completes(
    chat: Chat, operation: str, code: str
) -> None:
    fault = chat.fault(operation, code, times=2)
    chat.send(message="throttled?")
    assert fault.sent == 2
    assert chat.frames()[-1]["type"] == "ai_response"
    assert len(_user_messages(chat)) == 1


def test_persistent_throttling_is_a_retryable_internal_error_with_nothing_half_written(
    chat: Chat,
) -> None:
    chat.fault("TransactWriteItems", "ThrottlingException", times=None)
    chat.send(message="never stored")
    (error,) = chat.frames()
    assert (error["code"], error["retryable"], error["clientMessageId"]) == (
        "INTERNAL_ERROR",
        True,
        "c-0001",
    )
    assert _user_messages(chat) == []
    assert chat.model.requests == []


def test_a_reply_that_cannot_be_started_fails_the_turn_and_a_retry_runs_it(chat: Chat) -> None:
    # GIVEN SQS refuses the reply's job
    chat.replies.refuse()
    chat.send(message="start me")
    ack, error = chat.frames()
    assert ack["type"] == "message_received"
    assert (error["code"], error["retryable"], error["clientMessageId"]) == (
        "INTERNAL_ERROR",
        True,
        "c-0001",
    )
    # AND the answer stored with the turn went with it: nothing shows as streaming
    assert [m.role for m in chat.stored()] == [Role.USER]
    # WHEN SQS is back and the client retries THEN the reply runs
    chat.replies.restore()
    chat.send(message="start me")
    assert chat.frames()[-1]["type"] == "ai_response"
    assert len(_user_messages(chat)) == 1
