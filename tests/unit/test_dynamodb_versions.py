"""A turn answered again in the chat table, against moto: each rule the revision keeps
atomically (``TURN_AS_SEEN``, ``CLIENT_ID_UNUSED``, a live conversation), tested once
against the port, and what history and ``versions`` read back."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import Message, MessageStatus, Role, TurnState
from realtime_chat.errors import ConversationNotFound
from realtime_chat.ports import Revision
from tests.support.aws import CHAT_TABLE

QUESTION = Message("q1", Role.USER, "hi", "2026-11-25T20:00:00.000Z")
ANSWER = Message("a1", Role.ASSISTANT, "hello", "2026-11-25T20:00:00.001Z")


NOW, STALE = "2026-11-25T20:01:00.000Z", "2026-11-25T19:56:00.000Z"


def revise(store: DynamoChatStore, *args: Any, **options: Any) -> Revision:
    """``revise_turn`` a minute after the turn, replies running for at most 5 minutes."""
    return store.revise_turn(*args, now=NOW, stale_before=STALE, **options)


def _streaming(message_id: str, timestamp: str) -> Message:
    return Message(message_id, Role.ASSISTANT, "", timestamp, status=MessageStatus.STREAMING)


@pytest.fixture
def store(moto_aws: Any) -> DynamoChatStore:
    chat = DynamoChatStore(moto_aws, CHAT_TABLE)
    chat.begin_turn("ada", "c1", QUESTION, title="t", client_message_id="cm-1")
    chat.finish_turn("ada", "c1", QUESTION, reply=ANSWER, state=TurnState.ANSWERED)
    return chat


def test_the_last_turn_is_the_newest_user_message_with_its_answer(store: DynamoChatStore) -> None:
    last = store.last_turn("ada", "c1")
    assert last is not None
    assert (last.turn.message.message_id, last.turn.state) == ("q1", TurnState.ANSWERED)
    assert last.turn.reply is not None and last.turn.reply.message_id == "a1"
    assert store.last_turn("ada", "nowhere") is None


def test_a_regenerate_keeps_the_old_answer_as_a_version_and_history_counts_it(
    store: DynamoChatStore,
) -> None:
    # WHEN the turn is answered again
    last = store.last_turn("ada", "c1")
    assert last is not None
    new = _streaming("a2", "2026-11-25T20:01:00.000Z")
    assert revise(store, "ada", "c1", last, new, client_message_id="r-1") is Revision.DONE
    # THEN history shows the question and the new answer, version 2
    messages, _ = store.history("ada", "c1", limit=10, before=None)
    assert [(m.message_id, m.versions) for m in messages] == [("q1", 1), ("a2", 2)]
    # AND the old answer is an earlier version, and the turn is pending again
    texts, answers = store.versions("ada", "c1", "q1")
    assert texts == [] and [a.content for a in answers] == ["hello"]
    again = store.last_turn("ada", "c1")
    assert again is not None and again.turn.state is TurnState.PENDING
    assert again.earlier_answers == 1


def test_two_tabs_revising_at_once_make_one_new_answer(store: DynamoChatStore) -> None:
    # GIVEN two tabs that both read the answered turn
    seen = store.last_turn("ada", "c1")
    assert seen is not None
    first = _streaming("a2", "2026-11-25T20:01:00.000Z")
    second = _streaming("a3", "2026-11-25T20:01:00.001Z")
    # WHEN both revise it
    assert revise(store, "ada", "c1", seen, first, client_message_id="r-1") is Revision.DONE
    outcome = revise(store, "ada", "c1", seen, second, client_message_id="r-2")
    # THEN the second finds it changed (TURN_AS_SEEN) and wrote nothing
    assert outcome is Revision.CHANGED
    messages, _ = store.history("ada", "c1", limit=10, before=None)
    assert [m.message_id for m in messages] == ["q1", "a2"]
    assert store.find_turn("ada", "r-2") is None


def test_a_client_message_id_used_before_revises_nothing(store: DynamoChatStore) -> None:
    last = store.last_turn("ada", "c1")
    assert last is not None
    new = _streaming("a2", "2026-11-25T20:01:00.000Z")
    # cm-1 started the turn itself: CLIENT_ID_UNUSED refuses it
    assert revise(store, "ada", "c1", last, new, client_message_id="cm-1") is (Revision.DUPLICATE)
    assert [m.message_id for m in store.history("ada", "c1", limit=10, before=None)[0]] == [
        "q1",
        "a1",
    ]


def test_an_edit_racing_a_delete_stores_nothing(store: DynamoChatStore) -> None:
    # GIVEN an edit that read the turn just before the conversation was deleted
    last = store.last_turn("ada", "c1")
    assert last is not None
    store.delete("ada", "c1")
    # WHEN it is written
    new = _streaming("a2", "2026-11-25T20:01:00.000Z")
    # THEN it is not found, and the conversation stays deleted, with nothing left
    with pytest.raises(ConversationNotFound):
        revise(store, "ada", "c1", last, new, client_message_id=None, text="changed")
    assert store.conversation("ada", "c1") is None
    assert store.history("ada", "c1", limit=10, before=None)[0] == []


def test_an_edit_keeps_the_old_text_and_stores_the_chosen_model(store: DynamoChatStore) -> None:
    last = store.last_turn("ada", "c1")
    assert last is not None
    new = _streaming("a2", "2026-11-25T20:01:00.000Z")
    done = revise(
        store, "ada", "c1", last, new, client_message_id=None, text="hi there", model="deep"
    )
    assert done is Revision.DONE
    question, answer = store.history("ada", "c1", limit=10, before=None)[0]
    assert (question.content, question.versions, answer.versions) == ("hi there", 2, 2)
    texts, answers = store.versions("ada", "c1", "q1")
    assert [t.content for t in texts] == ["hi"] and [a.message_id for a in answers] == ["a1"]
    conversation = store.conversation("ada", "c1")
    assert conversation is not None and conversation.model == "deep"


def test_a_page_that_starts_with_an_answer_still_knows_its_versions(
    store: DynamoChatStore,
) -> None:
    # GIVEN a regenerated answer
    last = store.last_turn("ada", "c1")
    assert last is not None
    revise(
        store,
        "ada",
        "c1",
        last,
        _streaming("a2", "2026-11-25T20:01:00.000Z"),
        client_message_id=None,
    )
    # WHEN a page holds only the answer (its question is on the page before)
    (answer,), _ = store.history("ada", "c1", limit=1, before=None)
    # THEN it still says it is version 2
    assert (answer.message_id, answer.versions) == ("a2", 2)
    assert replace(answer, versions=1) != answer


def test_a_turn_whose_reply_is_running_is_not_revised_but_one_whose_reply_died_is(
    moto_aws: Any,
) -> None:
    # GIVEN a turn whose reply is streaming
    store = DynamoChatStore(moto_aws, CHAT_TABLE)
    streaming = _streaming("a1", "2026-11-25T20:00:00.001Z")
    store.begin_turn("ada", "c1", QUESTION, title="t", client_message_id=None, reply=streaming)
    last = store.last_turn("ada", "c1")
    assert last is not None and last.turn.state is TurnState.PENDING
    new = _streaming("a2", "2026-11-25T20:01:00.000Z")
    # WHEN it is revised while its reply may still run, THEN nothing changes
    assert revise(store, "ada", "c1", last, new, client_message_id=None) is Revision.CHANGED
    # WHEN it is revised once a reply cannot be running any more (it died)
    later, died_before = "2026-11-25T20:10:00.000Z", "2026-11-25T20:05:00.000Z"
    done = store.revise_turn(
        "ada", "c1", last, new, client_message_id=None, now=later, stale_before=died_before
    )
    assert done is Revision.DONE
    # THEN the new answer is current, and the dead one is an earlier version, broken off
    assert [m.message_id for m in store.history("ada", "c1", limit=10, before=None)[0]] == [
        "q1",
        "a2",
    ]
    (dead,) = store.versions("ada", "c1", "q1")[1]
    assert (dead.message_id, dead.status) == ("a1", MessageStatus.ERROR)
    # AND a second tab that saw the dead turn too finds it changed
    again = store.revise_turn(
        "ada", "c1", last, _streaming("a3", later), client_message_id=None, now=later,
        stale_before=died_before,
    )  # fmt: skip
    assert again is Revision.CHANGED


def test_a_revision_read_before_another_tab_sent_a_new_message_changes_nothing(
    store: DynamoChatStore,
) -> None:
    # GIVEN a tab that read the last turn to answer it again
    seen = store.last_turn("ada", "c1")
    assert seen is not None
    # WHEN another tab sends a new message before the revision is written
    newer = Message("q2", Role.USER, "next", "2026-11-25T20:00:30.000Z")
    store.begin_turn("ada", "c1", newer, title="t", client_message_id="cm-2")
    outcome = revise(store, "ada", "c1", seen, _streaming("a2", NOW), client_message_id="r-1")
    # THEN the revision finds the conversation moved on (LAST_QUESTION_AS_SEEN) and
    # wrote nothing: the old turn keeps its answer, the new message stays the last
    assert outcome is Revision.CHANGED
    messages, _ = store.history("ada", "c1", limit=10, before=None)
    assert [m.message_id for m in messages] == ["q1", "a1", "q2"]
    assert store.versions("ada", "c1", "q1") == ([], [])
    last = store.last_turn("ada", "c1")
    assert last is not None and last.turn.message.message_id == "q2"
