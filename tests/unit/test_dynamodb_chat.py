"""The chat table adapter against moto, with the table built from template.yaml."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import Message, MessageStatus, Role, TurnState
from realtime_chat.errors import ConversationNotFound, TurnConversationDeleted
from tests.support.aws import CHAT_TABLE
from tests.support.faults import DynamoFault


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
    # GIVEN ada's secret conversation and eve's own, older conversations
    _fill(store, 1, user="ada", conv="secret")
    for day in (22, 23, 24):
        message = Message(f"e{day}", Role.USER, "eve's", f"2026-11-{day}T10:00:00.000Z")
        store.add_message("eve", f"eve-{day}", message, title="mine")
    # WHEN eve pages with a cursor forged from ada's conversation
    page = store.conversations("eve", limit=10, cursor="2026-11-25T20:00:00.000Z#secret")
    # THEN the page continues in eve's list (so the cursor was used) and holds only hers
    assert [c.conversation_id for c in page.items] == ["eve-24", "eve-23", "eve-22"]


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


def test_a_client_message_id_is_unique_per_user_whatever_the_conversation(
    store: DynamoChatStore,
) -> None:
    # GIVEN a first turn started by cm-1 in c1
    first = store.begin_turn("ada", "c1", _message(1), title="t", client_message_id="cm-1")
    # WHEN the same id comes again, naming another (new) conversation
    retry = store.begin_turn("ada", "c2", _message(2), title="t", client_message_id="cm-1")
    # THEN it is the first turn, and nothing new was stored anywhere
    assert not first.duplicate and retry.duplicate
    assert (retry.conversation_id, retry.message, retry.state) == (
        "c1",
        first.message,
        TurnState.PENDING,
    )
    assert [m.message_id for m in store.history("ada", "c1", limit=10, before=None)[0]] == ["m001"]
    assert store.conversation("ada", "c2") is None
    # AND another user may use the same id for their own turn
    assert not store.begin_turn(
        "bob", "c1", _message(3), title="t", client_message_id="cm-1"
    ).duplicate


def test_a_turn_is_answered_with_its_reply_atomically(store: DynamoChatStore) -> None:
    turn = store.begin_turn("ada", "c1", _message(1), title="t", client_message_id="cm-1")
    reply = _message(2, Role.ASSISTANT)
    store.finish_turn("ada", "c1", turn.message, reply=reply, state=TurnState.ANSWERED)
    found = store.find_turn("ada", "cm-1")
    assert found is not None
    assert (found.state, found.reply) == (TurnState.ANSWERED, reply)


def test_only_one_retry_of_a_failed_turn_runs_it_again(store: DynamoChatStore) -> None:
    turn = store.begin_turn("ada", "c1", _message(1), title="t", client_message_id="cm-1")
    when = {"now": "2026-11-25T21:00:00.000Z", "stale_before": "2026-11-25T20:00:00.000Z"}
    assert not store.retry_turn("ada", "c1", turn.message, **when)  # pending: still running
    store.finish_turn("ada", "c1", turn.message, reply=None, state=TurnState.FAILED)
    assert [store.retry_turn("ada", "c1", turn.message, **when) for _ in range(3)] == [
        True,
        False,
        False,
    ]
    found = store.find_turn("ada", "cm-1")
    assert found is not None and found.state is TurnState.PENDING


def test_a_turn_pending_for_longer_than_a_reply_can_run_is_retried_once(
    store: DynamoChatStore,
) -> None:
    # GIVEN a turn accepted at 20:00:01 whose reply died with its invocation
    turn = store.begin_turn("ada", "c1", _message(1), title="t", client_message_id="cm-1")
    # WHEN two retries come after the reply timeout has passed
    later = {"now": "2026-11-25T20:10:00.000Z", "stale_before": "2026-11-25T20:05:00.000Z"}
    first = store.retry_turn("ada", "c1", turn.message, **later)
    second = store.retry_turn("ada", "c1", turn.message, **later)
    # THEN the first runs the reply again, the second waits on that one
    assert (first, second) == (True, False)


def _answer(n: int) -> Message:
    streaming = _message(n, Role.ASSISTANT)
    return Message(
        streaming.message_id,
        Role.ASSISTANT,
        "",
        streaming.timestamp,
        status=MessageStatus.STREAMING,
    )


def test_a_turn_stored_with_its_answer_can_be_stopped_before_the_reply_starts(
    store: DynamoChatStore,
) -> None:
    # GIVEN a turn stored with its streaming answer, in one transaction
    store.begin_turn(
        "ada", "c1", _message(1), title="t", client_message_id="cm-1", reply=_answer(2)
    )
    # THEN the conversation shows the question and the answer, streaming, in that order
    history, _ = store.history("ada", "c1", limit=10, before=None)
    assert [(m.message_id, m.status) for m in history] == [
        ("m001", MessageStatus.COMPLETE),
        ("m002", MessageStatus.STREAMING),
    ]
    # AND a stop finds the answer before its reply has written anything
    assert store.request_stop("ada", "c1", stale_before="2026-11-25T19:00:00.000Z") == ["m002"]


def test_a_retried_or_refused_turn_stores_no_answer(store: DynamoChatStore, moto_aws: Any) -> None:
    # GIVEN a turn stored with its answer
    store.begin_turn(
        "ada", "c1", _message(1), title="t", client_message_id="cm-1", reply=_answer(2)
    )
    # WHEN the same client message id comes again, with an answer of its own
    retry = store.begin_turn(
        "ada", "c1", _message(3), title="t", client_message_id="cm-1", reply=_answer(4)
    )
    # THEN it is the first turn, and neither its message nor its answer is stored
    assert retry.duplicate
    history, _ = store.history("ada", "c1", limit=10, before=None)
    assert [m.message_id for m in history] == ["m001", "m002"]
    # AND a conversation being deleted takes neither
    moto_aws.update_item(
        TableName=CHAT_TABLE,
        Key={"pk": {"S": "USER#ada#CONV#c1"}, "sk": {"S": "CONV"}},
        UpdateExpression="SET deleted = :t",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    before = moto_aws.scan(TableName=CHAT_TABLE)["Items"]
    with pytest.raises(ConversationNotFound):
        store.begin_turn(
            "ada", "c1", _message(5), title="t", client_message_id=None, reply=_answer(6)
        )
    assert moto_aws.scan(TableName=CHAT_TABLE)["Items"] == before


def test_a_reply_cannot_bring_a_deleted_conversation_back(store: DynamoChatStore) -> None:
    turn = store.begin_turn("ada", "c1", _message(1), title="t", client_message_id=None)
    store.delete("ada", "c1")
    with pytest.raises(ConversationNotFound):
        store.finish_turn(
            "ada", "c1", turn.message, reply=_message(2, Role.ASSISTANT), state=TurnState.ANSWERED
        )
    assert store.conversation("ada", "c1") is None
    assert store.history("ada", "c1", limit=10, before=None)[0] == []


def test_a_deletion_under_way_closes_the_conversation_to_replies_and_renames(
    store: DynamoChatStore, moto_aws: Any
) -> None:
    # GIVEN a conversation whose deletion was interrupted after its first step
    turn = store.begin_turn("ada", "c1", _message(1), title="t", client_message_id=None)
    moto_aws.update_item(
        TableName=CHAT_TABLE,
        Key={"pk": {"S": "USER#ada#CONV#c1"}, "sk": {"S": "CONV"}},
        UpdateExpression="SET deleted = :t REMOVE gsi1pk, gsi1sk",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    # THEN it is gone for every reader and writer
    assert store.conversation("ada", "c1") is None
    assert store.conversations("ada", limit=10, cursor=None).items == ()
    with pytest.raises(ConversationNotFound):
        store.rename("ada", "c1", "new")
    with pytest.raises(ConversationNotFound):
        store.finish_turn(
            "ada", "c1", turn.message, reply=_message(2, Role.ASSISTANT), state=TurnState.ANSWERED
        )
    with pytest.raises(ConversationNotFound):
        store.begin_turn("ada", "c1", _message(3), title="t", client_message_id=None)
    # AND deleting it again finishes the job
    store.delete("ada", "c1")
    assert moto_aws.scan(TableName=CHAT_TABLE)["Items"] == []


def test_a_transaction_conflict_is_retried(store: DynamoChatStore, moto_aws: Any) -> None:
    # GIVEN DynamoDB cancels the first attempt for a conflict with another transaction
    fault = DynamoFault(
        moto_aws.meta.events,
        "TransactWriteItems",
        "TransactionCanceledException",
        reasons=["None", "TransactionConflict"],
    )
    # WHEN a message is stored THEN it is, once
    store.begin_turn("ada", "c1", _message(1), title="t", client_message_id=None)
    assert fault.sent == 1
    assert len(store.history("ada", "c1", limit=10, before=None)[0]) == 1


def test_a_conflict_that_persists_is_raised_and_nothing_is_written(
    store: DynamoChatStore, moto_aws: Any
) -> None:
    DynamoFault(
        moto_aws.meta.events,
        "TransactWriteItems",
        "TransactionCanceledException",
        times=None,
        reasons=["TransactionConflict", "None", "None"],
    )
    with pytest.raises(Exception, match="TransactionCanceled"):
        store.begin_turn("ada", "c1", _message(1), title="t", client_message_id="cm-1")
    assert moto_aws.scan(TableName=CHAT_TABLE)["Items"] == []


def _turn_at(second: int, conv: str) -> tuple[Message, Message]:
    """A question at ``second`` and its streaming answer a millisecond later."""
    stamp = f"2026-11-25T20:{second // 60:02d}:{second % 60:02d}"
    question = Message(f"q{second:03d}", Role.USER, "q", f"{stamp}.000Z")
    answer = Message(
        f"a{second:03d}", Role.ASSISTANT, "", f"{stamp}.001Z", status=MessageStatus.STREAMING
    )
    return question, answer


def _answered(answer: Message) -> Message:
    return Message(answer.message_id, Role.ASSISTANT, "done", answer.timestamp)


def test_a_long_reply_that_ends_after_a_newer_turn_leaves_the_conversation_at_that_turn(
    store: DynamoChatStore,
) -> None:
    # GIVEN conversation X: a long turn; then Y: one turn; then X: a short turn
    user = "ada"
    long_q, long_a = _turn_at(1, "x")
    y_q, y_a = _turn_at(2, "y")
    short_q, short_a = _turn_at(3, "x")
    store.begin_turn(user, "x", long_q, title="x", client_message_id=None, reply=long_a)
    store.begin_turn(user, "y", y_q, title="y", client_message_id=None, reply=y_a)
    store.finish_turn(user, "y", y_q, reply=_answered(y_a), state=TurnState.ANSWERED, started=y_a)
    store.begin_turn(user, "x", short_q, title="x", client_message_id=None, reply=short_a)
    # WHEN the short turn finishes first, then the long one
    store.finish_turn(
        user, "x", short_q, reply=_answered(short_a), state=TurnState.ANSWERED, started=short_a
    )
    store.finish_turn(
        user, "x", long_q, reply=_answered(long_a), state=TurnState.ANSWERED, started=long_a
    )
    # THEN X's last activity is its newest message, and X is listed above Y
    x = store.conversation(user, "x")
    assert x is not None and x.updated_at == short_a.timestamp
    page = store.conversations(user, limit=10, cursor=None)
    assert [c.conversation_id for c in page.items] == ["x", "y"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    conversations=st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=6),
    data=st.data(),
)
def test_updated_at_only_moves_forward_whatever_order_replies_end_in(
    store: DynamoChatStore, conversations: list[str], data: st.DataObject
) -> None:
    # GIVEN turns begun one after another in a few conversations (a user of their own)
    user = f"u{uuid.uuid4().hex}"
    turns = []
    for second, conv in enumerate(conversations):
        question, answer = _turn_at(second, conv)
        store.begin_turn(user, conv, question, title=conv, client_message_id=None, reply=answer)
        turns.append((conv, question, answer))
    # WHEN their replies end in any order, some failing without text
    seen: dict[str, str] = {}
    for conv, question, answer in data.draw(st.permutations(turns)):
        failed = data.draw(st.booleans())
        store.finish_turn(
            user,
            conv,
            question,
            reply=None if failed else _answered(answer),
            state=TurnState.FAILED if failed else TurnState.ANSWERED,
            started=answer,
        )
        # THEN no conversation's updatedAt ever goes back
        for c in store.conversations(user, limit=10, cursor=None).items:
            assert c.updated_at >= seen.get(c.conversation_id, "")
            seen[c.conversation_id] = c.updated_at
    # AND each ends at its newest message, and the list is in that order
    page = store.conversations(user, limit=10, cursor=None).items
    for c in page:
        newest = store.history(user, c.conversation_id, limit=100, before=None)[0][-1]
        assert c.updated_at == newest.timestamp
    assert [c.updated_at for c in page] == sorted((c.updated_at for c in page), reverse=True)


def test_a_client_message_id_whose_conversation_was_deleted_names_that_conversation(
    store: DynamoChatStore,
) -> None:
    # GIVEN cm-1's turn in c1, and c1 deleted since
    store.begin_turn("ada", "c1", _message(1), title="t", client_message_id="cm-1")
    store.delete("ada", "c1")
    # WHEN cm-1 is looked up, or sent again naming another conversation
    # THEN both say the turn's own conversation was deleted
    with pytest.raises(TurnConversationDeleted) as found:
        store.find_turn("ada", "cm-1")
    with pytest.raises(TurnConversationDeleted) as sent:
        store.begin_turn("ada", "c2", _message(2), title="t", client_message_id="cm-1")
    assert found.value.conversation_id == sent.value.conversation_id == "c1"
    assert store.conversation("ada", "c2") is None
