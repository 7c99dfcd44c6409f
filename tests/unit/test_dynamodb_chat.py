"""The chat table adapter against moto, with the table built from template.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.errors import ConversationNotFound
from realtime_chat.model import Message, Role
from tests.support.aws import CHAT_TABLE


def _message(n: int, role: Role = Role.USER) -> Message:
    return Message(
        message_id=f"m{n:03d}",
        role=role,
        content=f"message {n}",
        timestamp=f"2026-11-25T20:{n // 60:02d}:{n % 60:02d}.000Z",
    )


@pytest.fixture
def store(moto_aws: Any) -> DynamoChatStore:
    return DynamoChatStore(moto_aws, CHAT_TABLE)


def _fill(store: DynamoChatStore, count: int, user: str = "ada", conv: str = "c1") -> None:
    for n in range(count):
        store.add_message(user, conv, _message(n), title=f"title from {n}")


def test_history_is_the_newest_n_oldest_first_with_a_cursor_to_older(
    store: DynamoChatStore,
) -> None:
    _fill(store, 7)
    page, before = store.history("ada", "c1", limit=3, before=None)
    assert [m.message_id for m in page] == ["m004", "m005", "m006"]
    assert before is not None
    older, before2 = store.history("ada", "c1", limit=3, before=before)
    assert [m.message_id for m in older] == ["m001", "m002", "m003"]
    oldest, before3 = store.history("ada", "c1", limit=3, before=before2)
    assert [m.message_id for m in oldest] == ["m000"]
    assert before3 is None


def test_a_conversation_keeps_its_first_title_and_creation_time(store: DynamoChatStore) -> None:
    _fill(store, 3)
    conversation = store.conversation("ada", "c1")
    assert conversation is not None
    assert conversation.title == "title from 0"
    assert conversation.created_at == _message(0).timestamp
    assert conversation.updated_at == _message(2).timestamp


def test_conversations_are_listed_newest_first_in_pages(store: DynamoChatStore) -> None:
    for n, conv in enumerate(["a", "b", "c"]):
        store.add_message("ada", conv, _message(n), title=conv)
    first = store.conversations("ada", limit=2, cursor=None)
    assert [c.conversation_id for c in first.items] == ["c", "b"]
    second = store.conversations("ada", limit=2, cursor=first.next_cursor)
    assert [c.conversation_id for c in second.items] == ["a"]


def test_users_never_see_each_others_conversations(store: DynamoChatStore) -> None:
    _fill(store, 2, user="ada", conv="shared-id")
    assert store.conversation("eve", "shared-id") is None
    assert store.conversations("eve", limit=10, cursor=None).items == ()
    assert store.history("eve", "shared-id", limit=10, before=None) == ([], None)
    with pytest.raises(ConversationNotFound):
        store.rename("eve", "shared-id", "mine now")
    with pytest.raises(ConversationNotFound):
        store.delete("eve", "shared-id")
    assert store.conversation("ada", "shared-id") is not None


def test_a_forged_cursor_stays_in_the_callers_partition(store: DynamoChatStore) -> None:
    _fill(store, 1, user="ada", conv="secret")
    page = store.conversations("eve", limit=10, cursor="2026-11-25T20:00:00.000Z#secret")
    assert page.items == ()


def test_delete_removes_every_message_across_batches(store: DynamoChatStore, moto_aws: Any) -> None:
    _fill(store, 60)
    _fill(store, 2, conv="other")
    store.delete("ada", "c1")
    assert store.conversation("ada", "c1") is None
    left = moto_aws.query(
        TableName=CHAT_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "USER#ada#CONV#c1"}},
    )["Items"]
    assert left == []
    assert len(store.history("ada", "other", limit=10, before=None)[0]) == 2


def test_rename_changes_only_the_title(store: DynamoChatStore) -> None:
    _fill(store, 2)
    renamed = store.rename("ada", "c1", "Better title")
    assert renamed.title == "Better title"
    assert renamed.created_at == _message(0).timestamp


def test_the_same_client_message_id_stores_one_message(store: DynamoChatStore) -> None:
    first = store.add_message("ada", "c1", _message(1), title="t", client_message_id="cm-1")
    retry = store.add_message("ada", "c1", _message(2), title="t", client_message_id="cm-1")
    assert not first.duplicate
    assert retry.duplicate
    assert retry.message.message_id == first.message.message_id
    assert retry.message.timestamp == first.message.timestamp
    page, _ = store.history("ada", "c1", limit=10, before=None)
    assert [m.message_id for m in page] == ["m001"]
