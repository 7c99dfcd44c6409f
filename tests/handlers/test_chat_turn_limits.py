"""Chat turns at the limits, through the real chat_message handler: duplicates of one
``clientMessageId`` at the rate limit's boundary, retries that run the model again
(charged like a new message) or only resend an answer (free), and retries whose
conversation was deleted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from tests.conftest import LambdaContext, load_event
from tests.handlers.conftest import ADA, CONV, Chat
from tests.support.aws import CHAT_TABLE, clear_posted, posted_frames, put_connection

WAIT = 30.0  # seconds an event may take before the test fails (never reached when green)


def _event(connection_id: str, **changes: Any) -> dict[str, Any]:
    event = load_event("chat_message")
    event["requestContext"]["connectionId"] = connection_id
    body = json.loads(event["body"])
    body["data"].update(changes)
    event["body"] = json.dumps(body)
    return event


def _of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == kind]


class _PauseBeforeStoringTheTurn:
    """A container of the chat function whose DynamoDB client stops right before the
    write that stores a turn's message, until ``resume`` is set: the moment after
    the message was charged and before its turn exists."""

    def __init__(self, load: Callable[[str], ModuleType]) -> None:
        self.paused = threading.Event()
        self.resume = threading.Event()
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register(
            "before-parameter-build.dynamodb.TransactWriteItems", self._maybe_pause
        )
        self.handler = load("message")
        boto3.setup_default_session()  # containers loaded after this one are not paused

    def _maybe_pause(self, params: dict[str, Any], **_: Any) -> None:
        stores_a_message = any(
            item.get("Put", {}).get("Item", {}).get("sk", {}).get("S", "").startswith("MSG#")
            for item in params["TransactItems"]
        )
        if stores_a_message and not self.paused.is_set():
            self.paused.set()
            assert self.resume.wait(WAIT)


def test_a_duplicate_sent_while_the_last_allowed_message_is_being_stored_gets_its_ack_and_reply(
    chat: Chat, load_handler: Callable[[str], ModuleType], lambda_context: LambdaContext
) -> None:
    # GIVEN one message a minute, and two tabs of ada, each in its own container
    chat.monkeypatch.setenv("CHAT_MESSAGES_PER_MINUTE", "1")
    first_tab, second_tab = "tab-1=", "tab-2="
    for tab in (first_tab, second_tab):
        put_connection(chat.dynamodb, tab, ADA)
    first = _PauseBeforeStoringTheTurn(load_handler)
    second = load_handler("message")
    same = {"clientMessageId": "same-1", "message": "only once"}
    # WHEN the first tab's send has been charged its one message and is about to store
    # its turn
    sending = threading.Thread(
        target=first.handler.lambda_handler, args=(_event(first_tab, **same), lambda_context)
    )
    sending.start()
    assert first.paused.wait(WAIT)
    # AND the second tab sends the same clientMessageId right then
    try:
        second.lambda_handler(_event(second_tab, **same), lambda_context)
    finally:
        first.resume.set()
    sending.join(WAIT)
    chat.replies.wait()
    # THEN nobody is told RATE_LIMITED: the second tab got the acknowledgement of the
    # message the first tab sent, and later its reply
    everything = posted_frames(first_tab) + posted_frames(second_tab)
    assert _of_type(everything, "error") == []
    first_ack = _of_type(posted_frames(first_tab), "message_received")[0]
    second_ack = _of_type(posted_frames(second_tab), "message_received")[0]
    assert (second_ack["messageId"], second_ack["conversationId"]) == (
        first_ack["messageId"],
        first_ack["conversationId"],
    )
    assert second_ack["clientMessageId"] == "same-1"
    assert posted_frames(second_tab)[-1]["type"] == "ai_response"
    # AND the message was stored and answered once
    assert len(chat.model.requests) == 1
    assert [m.content for m in chat.stored()][:1] == ["only once"]


def test_identical_sends_from_six_tabs_with_one_message_left_are_accepted_once_and_never_refused(
    chat: Chat, load_handler: Callable[[str], ModuleType], lambda_context: LambdaContext
) -> None:
    # GIVEN one message a minute and six tabs of ada, each in its own container
    chat.monkeypatch.setenv("CHAT_MESSAGES_PER_MINUTE", "1")
    tabs = [f"tab-{n}=" for n in range(6)]
    for tab in tabs:
        put_connection(chat.dynamodb, tab, ADA)
    handlers = [load_handler("message") for _ in tabs]
    barrier = threading.Barrier(len(tabs))

    def send(n: int) -> None:
        barrier.wait()
        handlers[n].lambda_handler(_event(tabs[n], clientMessageId="same-6"), lambda_context)

    # WHEN they all send the same clientMessageId at once, in whatever order they land
    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(tabs))]
    [t.start() for t in threads]
    [t.join(WAIT) for t in threads]
    chat.replies.wait()
    # THEN one turn, one model call, no error anywhere, one acknowledgement for all
    assert len(chat.model.requests) == 1
    assert _of_type([f for tab in tabs for f in posted_frames(tab)], "error") == []
    acks = {_of_type(posted_frames(tab), "message_received")[0]["messageId"] for tab in tabs}
    assert len(acks) == 1
    # AND the next new message is refused: the one message of the minute was charged once
    handlers[0].lambda_handler(_event(tabs[0], clientMessageId="next-1"), lambda_context)
    assert posted_frames(tabs[0])[-1]["code"] == "RATE_LIMITED"


def _failing_turn(chat: Chat, *, mid_answer: bool = False, **env: str) -> None:
    """A turn whose reply fails before its first token (the provider keeps answering
    503), or ``mid_answer`` (the provider breaks off after two tokens: it is charged)."""
    chat.reload(**env)
    if mid_answer:
        chat.model.scenario.break_after = 2
    else:
        chat.model.scenario.statuses = [503, 503, 503]
    chat.send(message="are you there?", clientMessageId="fail-1")
    assert chat.frames()[-1]["code"] == "AI_UNAVAILABLE"
    clear_posted()


def test_a_retry_that_runs_the_model_again_is_refused_past_the_minute_limit_until_it_may_go(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one message a minute, a frozen clock, and a turn whose reply failed
    clock = [1_800_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    _failing_turn(chat, CHAT_MESSAGES_PER_MINUTE="1")
    # WHEN the client retries it at once
    chat.send(message="are you there?", clientMessageId="fail-1")
    # THEN it is told when it may, and the model is not asked again
    ack, refused = chat.frames()
    assert ack["type"] == "message_received"
    assert (refused["code"], refused["retryAfter"], refused["retryable"]) == (
        "RATE_LIMITED",
        60,
        True,
    )
    assert (refused["clientMessageId"], refused["conversationId"]) == ("fail-1", CONV)
    assert len(chat.model.requests) == 3  # the first turn's three attempts only
    # AND a minute later the same retry runs the model and is answered
    clock[0] += 60
    chat.send(message="are you there?", clientMessageId="fail-1")
    assert chat.frames()[-1]["type"] == "ai_response"
    # AND that run was charged like a new message: the next new one waits
    chat.send(message="a new one", clientMessageId="new-1")
    assert chat.frames()[-1]["code"] == "RATE_LIMITED"


def test_a_retry_that_runs_the_model_again_is_refused_past_the_daily_token_budget(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a daily budget that a failed turn (broken off mid-answer) already used up
    midnight = 1_800_000_000.0 - 1_800_000_000.0 % 86_400
    monkeypatch.setattr(time, "time", lambda: midnight + 23 * 3600)
    _failing_turn(chat, mid_answer=True, DAILY_TOKEN_BUDGET="1", CHAT_MESSAGES_PER_MINUTE="0")
    requests = len(chat.model.requests)
    # WHEN the client retries it five times
    for _ in range(5):
        chat.send(message="are you there?", clientMessageId="fail-1")
    # THEN each retry is refused until 00:00 UTC and the model is never asked again
    refusals = _of_type(chat.frames(), "error")
    assert [(r["code"], r["retryAfter"]) for r in refusals] == [("RATE_LIMITED", 3600)] * 5
    assert all("daily AI token budget" in r["message"] for r in refusals)
    assert len(chat.model.requests) == requests


def test_a_retry_of_an_answered_turn_is_free_even_past_the_limit(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one message a minute, used by an answered turn
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)
    chat.reload(CHAT_MESSAGES_PER_MINUTE="1")
    chat.send(message="hello", clientMessageId="ok-1")
    answer = chat.frames()[-1]
    clear_posted()
    # WHEN it is retried
    chat.send(message="hello", clientMessageId="ok-1")
    # THEN the stored answer comes back, nothing refused, the model not asked again
    ack, again = chat.frames()
    assert (ack["type"], again["type"], again["content"]) == (
        "message_received",
        "ai_response",
        answer["content"],
    )
    assert len(chat.model.requests) == 1


@pytest.mark.parametrize("per_minute", ["20", "0"])
@pytest.mark.parametrize("named", ["cb_live", None])
def test_a_retry_whose_conversation_was_deleted_names_that_conversation_and_says_what_to_do(
    chat: Chat, per_minute: str, named: str | None
) -> None:
    # GIVEN a turn sent in conversation CONV, which was deleted since; and a live one
    chat.reload(CHAT_MESSAGES_PER_MINUTE=per_minute)
    chat.send(message="first", clientMessageId="gone-1")
    chat.send(message="other", clientMessageId="live-1", conversationId="cb_live")
    DynamoChatStore(chat.dynamodb, CHAT_TABLE).delete(ADA, CONV)
    clear_posted()
    # WHEN the client resends its clientMessageId, naming a live conversation or none
    chat.send(message="first", clientMessageId="gone-1", conversationId=named)
    # THEN the error names the turn's own conversation and what to do
    (error,) = chat.frames()
    assert (error["code"], error["field"], error["conversationId"]) == (
        "NOT_FOUND",
        "clientMessageId",
        CONV,
    )
    assert f"'{CONV}'" in error["message"]
    assert "new clientMessageId" in error["message"]
    assert "None" not in error["message"] and "cb_live" not in error["message"]
    # AND nothing was stored for it, and the live conversation is untouched
    assert DynamoChatStore(chat.dynamodb, CHAT_TABLE).conversation(ADA, CONV) is None
    assert [m.content for m in chat.stored("cb_live")][:1] == ["other"]
