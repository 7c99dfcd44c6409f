"""Replies that survive reconnects and can be stopped, through the real handlers: late
joiners get a snapshot and then every later word, history shows a reply as it
streams, any connection of the user can stop it, and a reply whose invocation died
leaves its text and can be run again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import Attempt, Message, MessageStatus, Role
from realtime_chat.frames import iso
from tests.conftest import LambdaContext, load_event
from tests.handlers.conftest import ADA, CONV, PHONE, Chat
from tests.support.aws import CHAT_TABLE, posted_frames, put_connection
from tests.support.waiting import HANG_SECONDS

TOKENS = 60  # at 50 ms each: a reply of about three seconds
STREAM = {"message_received", "ai_response_chunk", "ai_response_snapshot", "ai_response"}


@pytest.fixture
def slow(chat: Chat) -> Chat:
    chat.model.scenario.tokens = TOKENS
    chat.model.scenario.delay = 0.05
    return chat


@pytest.fixture
def default(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    return load_handler("default")


def _action(
    default: ModuleType,
    context: LambdaContext,
    action: str,
    data: dict[str, Any],
    connection_id: str = PHONE,
    user: str = ADA,
) -> list[dict[str, Any]]:
    """Send an action from one of the user's connections; the frames that answered it
    (the connection may be receiving a streaming reply meanwhile: those are left out)."""
    event = load_event("user_status")
    event["requestContext"]["connectionId"] = connection_id
    event["requestContext"]["authorizer"]["userId"] = user
    event["body"] = json.dumps({"action": action, "data": data})
    before = len(posted_frames(connection_id))
    default.lambda_handler(event, context)
    return [f for f in posted_frames(connection_id)[before:] if f["type"] not in STREAM]


def _final(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return next(f for f in reversed(frames) if f["type"] == "ai_response")


def _chunks_after(frames: list[dict[str, Any]], seq: int) -> str:
    return "".join(
        f["delta"] for f in frames if f["type"] == "ai_response_chunk" and f["seq"] > seq
    )


def _until(predicate: Callable[[], bool], timeout: float = HANG_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_tab_opened_mid_answer_gets_a_snapshot_then_every_later_word(slow: Chat) -> None:
    # GIVEN a reply streaming to ada's laptop
    slow.start(message="tell me a long story")
    _until(lambda: len(slow.frames()) > 3)
    # WHEN she opens a new tab mid-answer
    put_connection(slow.dynamodb, "new-tab=", ADA)
    slow.replies.wait()
    # THEN the tab's first frame is a snapshot, then it gets the chunks after it
    seen = posted_frames("new-tab=")
    snapshot = seen[0]
    assert snapshot["type"] == "ai_response_snapshot"
    assert snapshot["content"]  # it joined mid-answer
    rest = _chunks_after(seen, snapshot["seq"])
    # AND snapshot + later deltas is the final answer exactly: no gap, no repeat
    final = _final(seen)
    assert snapshot["content"] + rest == final["content"] == _final(slow.frames())["content"]
    assert next(f["seq"] for f in seen if f["type"] == "ai_response_chunk") == snapshot["seq"] + 1


def test_ten_tabs_joining_at_once_each_reconstruct_the_answer(slow: Chat) -> None:
    slow.start(message="tell me a long story")
    _until(lambda: len(slow.frames()) > 3)
    tabs = [f"tab-{n}=" for n in range(10)]
    for tab in tabs:
        put_connection(slow.dynamodb, tab, ADA)
    slow.replies.wait()
    final = _final(slow.frames())["content"]
    for tab in tabs:
        seen = posted_frames(tab)
        assert seen[0]["type"] == "ai_response_snapshot"
        assert seen[0]["content"] + _chunks_after(seen, seen[0]["seq"]) == final


def test_a_connection_whose_token_expired_is_not_a_joiner(slow: Chat) -> None:
    slow.start(message="tell me a long story")
    _until(lambda: len(slow.frames()) > 3)
    put_connection(slow.dynamodb, "stale=", ADA, tokenExpiresAt={"N": str(int(time.time()) - 5)})
    slow.replies.wait()
    assert posted_frames("stale=") == []


def test_history_during_a_stream_shows_the_reply_as_streaming(
    slow: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    slow.start(message="tell me a long story")
    _until(lambda: len(slow.frames()) > 25)  # past the first checkpoint
    (history,) = _action(default, lambda_context, "chat_history", {"conversationId": CONV})
    user, reply = history["messages"]
    assert (user["status"], reply["status"], reply["role"]) == (
        "complete",
        "streaming",
        "assistant",
    )
    slow.replies.wait()
    final = _final(slow.frames())
    assert final["content"].startswith(reply["content"]) and reply["content"]
    (after,) = _action(default, lambda_context, "chat_history", {"conversationId": CONV})
    assert after["messages"][-1]["status"] == "complete"
    assert after["messages"][-1]["content"] == final["content"]


def test_the_phone_stops_what_the_laptop_started(
    slow: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    # GIVEN a reply streaming, started from the laptop
    slow.start(message="tell me a long story")
    _until(lambda: len(slow.frames()) > 3)
    # WHEN the phone asks to stop it
    (requested,) = _action(default, lambda_context, "stop_reply", {"conversationId": CONV})
    slow.replies.wait()
    # THEN the phone hears at once that the stop was requested, for that reply
    final = _final(slow.frames())
    assert requested == {
        "type": "reply_stop_requested",
        "conversationId": CONV,
        "messageId": final["messageId"],
    }
    # AND every connection ends with the text written so far, finishReason "stopped"
    assert _final(posted_frames(PHONE)) == final
    assert final["finishReason"] == "stopped"
    streamed = _chunks_after(slow.frames(), -1)
    assert final["content"] == streamed and f"token{TOKENS - 1}" not in streamed
    # AND the provider's stream was closed: it generated no more tokens
    _until(lambda: slow.model.hung_up == 1)
    # AND that text is what is stored, marked stopped
    stored = DynamoChatStore(slow.dynamodb, CHAT_TABLE).history(ADA, CONV, limit=5, before=None)
    reply = stored[0][-1]
    assert (reply.content, reply.status, reply.finish_reason) == (
        final["content"],
        MessageStatus.STOPPED,
        "stopped",
    )


def test_a_stop_sent_before_the_reply_has_started_stops_it(
    slow: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    # GIVEN a turn acknowledged whose reply has not started yet (its delivery is held)
    gate = threading.Event()
    reply = slow.replies.worker
    assert reply is not None
    slow.replies.worker = lambda event: gate.wait(10) and reply(event)
    slow.start(message="tell me a long story")
    (ack,) = slow.frames()
    assert ack["type"] == "message_received"
    # WHEN the phone asks to stop it
    (requested,) = _action(default, lambda_context, "stop_reply", {"conversationId": CONV})
    # THEN the stop is accepted for the answer stored with the turn
    assert requested["type"] == "reply_stop_requested"
    # AND once the reply runs, it ends stopped, well before the whole answer
    gate.set()
    slow.replies.wait()
    final = _final(slow.frames())
    assert (final["messageId"], final["finishReason"]) == (requested["messageId"], "stopped")
    assert f"token{TOKENS - 1}" not in final["content"]


def test_a_stop_sent_right_after_a_retry_stops_the_retried_reply(
    slow: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    # GIVEN a turn whose reply failed (the provider refused every attempt)
    slow.model.scenario.statuses = [503, 503, 503]
    slow.send(message="tell me a long story")
    assert slow.frames()[-1]["code"] == "AI_UNAVAILABLE"
    # AND its retry acknowledged, the retried reply's job not started yet (held)
    gate = threading.Event()
    reply = slow.replies.worker
    assert reply is not None
    slow.replies.worker = lambda event: gate.wait(10) and reply(event)
    slow.start(message="tell me a long story")
    assert slow.frames()[-1]["type"] == "message_received"
    # WHEN the phone asks to stop it at once
    (requested,) = _action(default, lambda_context, "stop_reply", {"conversationId": CONV})
    # THEN the stop is accepted for the retry's answer
    assert requested["type"] == "reply_stop_requested"
    # AND once the reply runs, it ends stopped, well before the whole answer
    gate.set()
    slow.replies.wait()
    final = _final(slow.frames())
    assert (final["messageId"], final["finishReason"]) == (requested["messageId"], "stopped")
    assert f"token{TOKENS - 1}" not in final["content"]


def test_deleting_a_conversation_mid_answer_is_the_last_word_on_every_tab(
    slow: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    # GIVEN a reply streaming to the laptop and the phone, past its first checkpoint
    slow.start(message="tell me a long story")
    _until(lambda: len(slow.frames()) > 25)
    # WHEN the phone deletes the conversation
    event = load_event("user_status")
    event["requestContext"]["connectionId"] = PHONE
    event["body"] = json.dumps({"action": "delete_conversation", "data": {"conversationId": CONV}})
    default.lambda_handler(event, lambda_context)
    slow.replies.wait()
    # THEN on every tab conversation_deleted comes once, and nothing of the reply after it
    for tab in (slow.frames(), posted_frames(PHONE)):
        kinds = [f["type"] for f in tab]
        assert kinds.count("conversation_deleted") == 1, kinds
        assert kinds[-1] == "conversation_deleted", kinds[kinds.index("conversation_deleted") :]
        assert "ai_response" not in kinds
    # AND the reply stopped early: the provider's stream was closed
    assert f"token{TOKENS - 1}" not in _chunks_after(slow.frames(), -1)


def test_another_user_cannot_stop_the_reply(
    slow: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    slow.start(message="tell me a long story")
    _until(lambda: len(slow.frames()) > 3)
    (refused,) = _action(
        default, lambda_context, "stop_reply", {"conversationId": CONV}, "eve-conn=", user="eve"
    )
    slow.replies.wait()
    assert (refused["code"], refused["field"]) == ("NOT_FOUND", "conversationId")
    assert _final(slow.frames())["finishReason"] == "stop"


def test_stopping_when_nothing_streams_says_so(
    chat: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    chat.send(message="a short one")
    (refused,) = _action(default, lambda_context, "stop_reply", {"conversationId": CONV})
    assert refused["code"] == "NOT_FOUND"
    assert refused["message"] == f"No reply is in progress in conversation '{CONV}'."


def test_a_reply_whose_invocation_died_keeps_its_text_and_its_turn_can_run_again(
    chat: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    # GIVEN a turn ten minutes old whose reply died after its last checkpoint (the
    # reply function's timeout is 300 s): what a killed invocation leaves behind
    store = DynamoChatStore(chat.dynamodb, CHAT_TABLE)
    asked = time.time() - 600
    question = Message("q1", Role.USER, "what happened?", iso(asked))
    store.begin_turn(ADA, CONV, question, title="t", client_message_id="died-1")
    partial = Message("r1", Role.ASSISTANT, "", iso(asked + 1), status=MessageStatus.STREAMING)
    store.start_reply(ADA, CONV, partial)
    store.checkpoint(ADA, CONV, Message("r1", Role.ASSISTANT, "It began", iso(asked + 1)), seq=0)
    # WHEN the history is read THEN the checkpointed text is there, as an error
    (history,) = _action(default, lambda_context, "chat_history", {"conversationId": CONV})
    assert (history["messages"][-1]["content"], history["messages"][-1]["status"]) == (
        "It began",
        "error",
    )
    # AND nothing is left to stop
    (refused,) = _action(default, lambda_context, "stop_reply", {"conversationId": CONV})
    assert refused["code"] == "NOT_FOUND"
    # WHEN the client retries the turn THEN it is answered
    chat.send(message="what happened?", clientMessageId="died-1")
    assert _final(chat.frames())["content"].startswith("You said: what happened?")


def test_a_reply_whose_job_started_late_shows_as_streaming_and_can_be_stopped(
    chat: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    # GIVEN a turn acknowledged ten minutes ago whose job was delivered late and
    # claimed it a minute ago (the reply function's timeout is 300 s): still running
    store = DynamoChatStore(chat.dynamodb, CHAT_TABLE)
    asked = time.time() - 600
    question = Message("q1", Role.USER, "late?", iso(asked))
    partial = Message("r1", Role.ASSISTANT, "", iso(asked + 1), status=MessageStatus.STREAMING)
    store.begin_turn(ADA, CONV, question, title="t", client_message_id="late-1", reply=partial)
    store.claim_turn(ADA, CONV, Attempt(question, "attempt-1", partial), now=iso(time.time() - 60))
    # WHEN the history is read THEN the reply shows as streaming, not as died
    (history,) = _action(default, lambda_context, "chat_history", {"conversationId": CONV})
    assert history["messages"][-1]["status"] == "streaming"
    # AND it can be stopped
    (requested,) = _action(default, lambda_context, "stop_reply", {"conversationId": CONV})
    assert (requested["type"], requested["messageId"]) == ("reply_stop_requested", "r1")


def test_a_stop_ends_the_reply_stopped_while_the_provider_sends_nothing(
    chat: Chat, default: ModuleType, lambda_context: LambdaContext
) -> None:
    # GIVEN a provider that goes silent for 10 s after three tokens, read with a 6 s
    # timeout (a reasoning model thinking)
    chat.reload(AI_READ_TIMEOUT="6")
    chat.model.scenario.tokens = 20
    chat.model.scenario.stall_after = 3
    chat.model.scenario.stall_seconds = 10
    chat.start(message="tell me a long story")
    _until(lambda: sum(f["type"] == "ai_response_chunk" for f in chat.frames()) >= 1)
    # WHEN the phone asks to stop it, while the provider says nothing
    (requested,) = _action(default, lambda_context, "stop_reply", {"conversationId": CONV})
    assert requested["type"] == "reply_stop_requested"
    chat.replies.wait()
    # THEN the reply hung up and ended stopped: not at the provider's next token, and
    # not as a provider error when the read it aborted broke off
    sent = chat.frames()
    assert [f for f in sent if f["type"] == "error"] == []
    final = _final(sent)
    assert final["finishReason"] == "stopped" and "token" not in final["content"]
    stored = DynamoChatStore(chat.dynamodb, CHAT_TABLE).history(ADA, CONV, limit=5, before=None)
    assert stored[0][-1].status is MessageStatus.STOPPED


def test_a_tab_whose_token_expires_mid_reply_gets_no_final_frame(slow: Chat) -> None:
    # GIVEN ada's phone, whose token expires a second from now, as the acknowledgement
    # finds it
    put_connection(slow.dynamodb, PHONE, ADA, tokenExpiresAt={"N": str(int(time.time()) + 1)})
    # WHEN a reply of about three seconds streams
    slow.send(message="tell me a long story")
    # THEN the laptop gets the whole answer, the phone nothing after its expiry: no end
    assert _final(slow.frames())["finishReason"] == "stop"
    assert "ai_response" not in [f["type"] for f in posted_frames(PHONE)]


def test_a_pending_message_resent_from_a_new_tab_gets_the_rest_of_its_reply(
    slow: Chat, lambda_context: LambdaContext
) -> None:
    # GIVEN a reply streaming for the laptop's message
    slow.start(message="tell me a long story", clientMessageId="c-long")
    _until(lambda: len(slow.frames()) > 3)
    # WHEN a new tab, unsure whether it went through, sends the same message again
    put_connection(slow.dynamodb, "new-tab=", ADA)
    event = load_event("chat_message")
    event["requestContext"]["connectionId"] = "new-tab="
    body = json.loads(event["body"])
    body["data"] |= {"message": "tell me a long story", "clientMessageId": "c-long"}
    event["body"] = json.dumps(body)
    slow.handler.lambda_handler(event, lambda_context)
    slow.replies.wait()
    # THEN it is acknowledged, and then gets the reply's end like every other tab
    seen = posted_frames("new-tab=")
    assert seen[0]["type"] == "message_received" and seen[0]["clientMessageId"] == "c-long"
    assert _final(seen) == _final(slow.frames())
    # AND the turn was answered once
    assert [f["type"] for f in slow.frames()].count("ai_response") == 1
