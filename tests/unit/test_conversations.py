"""Deleting a conversation while a reply streams in it, against moto, with the time
the delete waits for the reply supplied (never slept on)."""

from __future__ import annotations

from typing import Any

import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import Attempt, Identity, Message, MessageStatus, Role
from realtime_chat.protocol import ConversationRequest
from realtime_chat.usecases.context import Context
from realtime_chat.usecases.conversations import REPLIES_END_WITHIN, delete
from tests.support.aws import CHAT_TABLE
from tests.support.fakes import MemoryConnections, RecordingSender

NOW = 1_764_100_900.0
QUESTION = Message("q1", Role.USER, "hi", "2025-11-25T20:00:00.000Z")
ANSWER = Message(
    "a1", Role.ASSISTANT, "", "2025-11-25T20:00:00.001Z", status=MessageStatus.STREAMING
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.on_sleep: list[Any] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for hook in self.on_sleep:
            hook(self.now)


@pytest.fixture
def store(moto_aws: Any) -> DynamoChatStore:
    chat = DynamoChatStore(moto_aws, CHAT_TABLE)
    chat.begin_turn("ada", "c1", QUESTION, title="t", client_message_id="cm-1", reply=ANSWER)
    # a reply streaming: its job claimed the turn a minute ago
    chat.claim_turn(
        "ada", "c1", Attempt(QUESTION, "attempt-1", ANSWER), now="2025-11-25T20:00:40.000Z"
    )
    return chat


def _delete(store: DynamoChatStore, time: FakeTime) -> RecordingSender:
    sender = RecordingSender()
    ctx = Context("phone", "req-1", Identity("ada", None, True, int(NOW) + 600), 0, NOW, sender)
    delete(
        ctx,
        ConversationRequest("c1"),
        chat=store,
        connections=MemoryConnections(),
        reply_timeout=300,
        clock=time.clock,
        sleep=time.sleep,
    )
    return sender


def test_the_delete_answers_once_the_streaming_reply_said_it_ended(
    store: DynamoChatStore,
) -> None:
    # GIVEN a reply that finds the conversation gone at its checkpoint 0.8 s later
    time = FakeTime()
    time.on_sleep.append(lambda now: now >= 0.8 and store.reply_ended("ada", "c1", ANSWER))
    # WHEN the conversation is deleted
    sender = _delete(store, time)
    # THEN conversation_deleted goes out once the reply ended, not before
    assert sender.sent["phone"] == [{"type": "conversation_deleted", "conversationId": "c1"}]
    assert 0.8 <= time.now < 1.0
    assert store.replies_sending("ada", "c1") == []


def test_a_reply_that_never_says_it_ended_holds_the_delete_no_longer_than_its_bound(
    store: DynamoChatStore, moto_aws: Any
) -> None:
    # GIVEN a reply that hangs (it never reaches its next checkpoint)
    time = FakeTime()
    # WHEN the conversation is deleted THEN the delete answers after its bound
    sender = _delete(store, time)
    assert sender.sent["phone"] == [{"type": "conversation_deleted", "conversationId": "c1"}]
    assert REPLIES_END_WITHIN <= time.now < REPLIES_END_WITHIN + 0.2
    # AND nothing of the conversation is left
    left = moto_aws.scan(TableName=CHAT_TABLE)["Items"]
    assert not [i for i in left if i["pk"]["S"].endswith("#CONV#c1")]
