"""A reply job's hold on its turn, and its finishing write, against moto: each rule the
writes keep atomically (``UNCLAIMED_PENDING_TURN``, ``OWNED_BY_ATTEMPT``,
``NO_STOP_REQUESTED``, ``CLAIM_EXPIRED``), tested once against the port."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.adapters.dynamodb_items import CLIENT_ID_SECONDS, client_key
from realtime_chat.domain import (
    Attempt,
    Checkpoint,
    Claim,
    Message,
    MessageStatus,
    Role,
    Settled,
    TurnState,
)
from realtime_chat.errors import ConversationNotFound
from tests.support.aws import CHAT_TABLE

QUESTION = Message("q1", Role.USER, "hi", "2026-11-25T20:00:00.000Z")
ANSWER = Message(
    "a1", Role.ASSISTANT, "", "2026-11-25T20:00:00.001Z", status=MessageStatus.STREAMING
)
CLAIMED = "2026-11-25T20:00:01.000Z"
FIRST, SECOND = Attempt(QUESTION, "attempt-1", ANSWER), Attempt(QUESTION, "attempt-2")


@pytest.fixture
def store(moto_aws: Any) -> DynamoChatStore:
    chat = DynamoChatStore(moto_aws, CHAT_TABLE)
    chat.begin_turn("ada", "c1", QUESTION, title="t", client_message_id="cm-1", reply=ANSWER)
    return chat


def _finish(store: DynamoChatStore, attempt: Attempt, **options: Any) -> Settled:
    done = replace(ANSWER, content="Hello", status=MessageStatus.COMPLETE)
    return store.finish_turn(
        "ada", "c1", QUESTION, reply=done, state=TurnState.ANSWERED, started=ANSWER,
        attempt=attempt, **options,
    )  # fmt: skip


def _state(store: DynamoChatStore) -> tuple[TurnState, str]:
    turn = store.find_turn("ada", "cm-1")
    assert turn is not None
    reply = store.history("ada", "c1", limit=5, before=None)[0][-1]
    return turn.state, reply.status.value


def test_only_the_first_attempt_to_claim_a_pending_turn_owns_it(store: DynamoChatStore) -> None:
    assert store.claim_turn("ada", "c1", FIRST, now=CLAIMED) is Claim.OWNED
    assert store.claim_turn("ada", "c1", SECOND, now=CLAIMED) is Claim.TAKEN
    # attempt ids are new for every run: the same id again is our own write sent again
    # by botocore's retry after its answer was lost, and it still owns the turn
    assert store.claim_turn("ada", "c1", FIRST, now=CLAIMED) is Claim.OWNED


def test_an_answered_turn_cannot_be_claimed(store: DynamoChatStore) -> None:
    store.claim_turn("ada", "c1", FIRST, now=CLAIMED)
    assert _finish(store, FIRST) is Settled.WRITTEN
    assert store.claim_turn("ada", "c1", SECOND, now=CLAIMED) is Claim.ANSWERED


def test_a_deleted_conversations_turn_cannot_be_claimed(store: DynamoChatStore) -> None:
    store.delete("ada", "c1")
    assert store.claim_turn("ada", "c1", FIRST, now=CLAIMED) is Claim.GONE


def test_only_the_owner_finishes_the_turn_and_a_loser_writes_nothing(
    store: DynamoChatStore,
) -> None:
    store.claim_turn("ada", "c1", FIRST, now=CLAIMED)
    assert _finish(store, SECOND) is Settled.LOST
    assert _state(store) == (TurnState.PENDING, "streaming")
    assert _finish(store, FIRST) is Settled.WRITTEN
    assert _state(store) == (TurnState.ANSWERED, "complete")


def test_a_normal_end_after_a_stop_request_writes_nothing_and_says_so(
    store: DynamoChatStore,
) -> None:
    store.claim_turn("ada", "c1", FIRST, now=CLAIMED)
    assert store.request_stop("ada", "c1", stale_before="2000-01-01T00:00:00.000Z") == ["a1"]
    assert _finish(store, FIRST, stop_wins=True) is Settled.STOP_REQUESTED
    assert _state(store) == (TurnState.PENDING, "streaming")
    # the stopped answer is then stored, and a later stop finds nothing
    stopped = replace(ANSWER, content="Hel", status=MessageStatus.STOPPED)
    settled = store.finish_turn(
        "ada", "c1", QUESTION, reply=stopped, state=TurnState.ANSWERED, started=ANSWER,
        attempt=FIRST,
    )  # fmt: skip
    assert settled is Settled.WRITTEN and _state(store) == (TurnState.ANSWERED, "stopped")
    assert store.request_stop("ada", "c1", stale_before="2000-01-01T00:00:00.000Z") == []


def test_a_broken_end_without_text_after_a_stop_request_writes_nothing_and_says_so(
    store: DynamoChatStore,
) -> None:
    store.claim_turn("ada", "c1", FIRST, now=CLAIMED)
    store.request_stop("ada", "c1", stale_before="2000-01-01T00:00:00.000Z")
    settled = store.finish_turn(
        "ada", "c1", QUESTION, reply=None, state=TurnState.FAILED, started=ANSWER,
        attempt=FIRST, stop_wins=True,
    )  # fmt: skip
    assert settled is Settled.STOP_REQUESTED
    assert _state(store) == (TurnState.PENDING, "streaming")


def test_a_finishing_write_in_a_deleted_conversation_raises(store: DynamoChatStore) -> None:
    store.claim_turn("ada", "c1", FIRST, now=CLAIMED)
    store.delete("ada", "c1")
    with pytest.raises(ConversationNotFound):
        _finish(store, FIRST, stop_wins=True)


def test_a_retry_takes_a_pending_turn_over_only_once_its_claim_has_expired(
    store: DynamoChatStore,
) -> None:
    # GIVEN a turn asked at 20:00 whose job arrived late and claimed it at 20:06
    store.claim_turn("ada", "c1", FIRST, now="2026-11-25T20:06:00.000Z")
    # WHEN the user retries at 20:08 (the turn is older than a reply may run, 3 min
    # here, but its claim is not)
    early = {"now": "2026-11-25T20:08:00.000Z", "stale_before": "2026-11-25T20:05:00.000Z"}
    # THEN the running job keeps the turn: nobody else may claim it
    assert not store.retry_turn("ada", "c1", QUESTION, **early)
    assert store.claim_turn("ada", "c1", SECOND, now=early["now"]) is Claim.TAKEN
    # WHEN the claim is older than a reply may run THEN a retry takes the turn over
    late = {"now": "2026-11-25T20:10:00.000Z", "stale_before": "2026-11-25T20:07:00.000Z"}
    assert store.retry_turn("ada", "c1", QUESTION, **late)
    assert store.claim_turn("ada", "c1", SECOND, now=late["now"]) is Claim.OWNED
    # AND the first job, should it still try, can no longer finish the turn
    assert _finish(store, FIRST) is Settled.LOST


def test_a_reply_whose_turn_a_retry_took_over_learns_it_at_its_next_checkpoint(
    store: DynamoChatStore,
) -> None:
    # GIVEN a reply streaming under a claim that has outlived a reply's run
    store.claim_turn("ada", "c1", FIRST, now="2026-11-25T20:06:00.000Z")
    progress = replace(ANSWER, content="So far")
    assert store.checkpoint("ada", "c1", progress, seq=0) is Checkpoint.CONTINUE
    # WHEN a retry takes the turn over
    late = {"now": "2026-11-25T20:10:00.000Z", "stale_before": "2026-11-25T20:07:00.000Z"}
    assert store.retry_turn("ada", "c1", QUESTION, **late)
    # THEN the displaced reply's next checkpoint says it lost its turn, and stores nothing
    assert (
        store.checkpoint("ada", "c1", replace(progress, content="More"), seq=1) is Checkpoint.LOST
    )
    assert store.history("ada", "c1", limit=5, before=None)[0][-1].content == "So far"


def test_a_client_id_is_remembered_from_its_messages_time_not_this_machines(
    store: DynamoChatStore, moto_aws: Any
) -> None:
    # GIVEN the turn stored by the fixture, its question sent at 2026-11-25T20:00:00Z
    # (by the caller's clock; this machine's reads some other time)
    sent = 1_795_636_800
    # WHEN DynamoDB's TTL reads the marker of its client message id
    marker = moto_aws.get_item(TableName=CHAT_TABLE, Key=client_key("ada", "cm-1"))["Item"]
    # THEN it expires CLIENT_ID_SECONDS after the message was sent
    assert int(marker["ttl"]["N"]) == sent + CLIENT_ID_SECONDS


def _answer_lost_once(client: Any, operation: str) -> None:
    """The first ``operation`` is applied, then sent again as botocore does when its
    answer is lost (a read timeout): through botocore's public ``needs-retry`` event."""
    sent: list[int] = []

    def retry_the_first(attempts: int, **_: Any) -> float | None:
        if attempts == 1 and not sent:
            sent.append(attempts)
            return 0.0  # retry at once
        return None

    client.meta.events.register(f"needs-retry.dynamodb.{operation}", retry_the_first)


def test_a_claim_whose_answer_was_lost_and_that_botocore_sent_again_still_owns_the_turn(
    store: DynamoChatStore, moto_aws: Any
) -> None:
    # GIVEN a claim that lands, whose answer is lost, so botocore sends it again
    _answer_lost_once(moto_aws, "UpdateItem")
    # WHEN the job claims its turn THEN it owns it (it does not drop itself as TAKEN)
    assert store.claim_turn("ada", "c1", FIRST, now=CLAIMED) is Claim.OWNED
    # AND another attempt still finds it taken
    assert store.claim_turn("ada", "c1", SECOND, now=CLAIMED) is Claim.TAKEN


def test_a_retry_of_a_failed_turn_sent_again_by_botocore_still_runs_it_once(
    store: DynamoChatStore, moto_aws: Any
) -> None:
    # GIVEN a failed turn
    store.finish_turn("ada", "c1", QUESTION, reply=None, state=TurnState.FAILED, started=ANSWER)
    when = {"now": "2026-11-25T21:00:00.000Z", "stale_before": "2026-11-25T20:30:00.000Z"}
    # WHEN its retry lands but its answer is lost, so botocore sends it again
    _answer_lost_once(moto_aws, "TransactWriteItems")
    # THEN the retry runs the reply (it is not told someone else retried)
    assert store.retry_turn("ada", "c1", QUESTION, **when) is True
    # AND a second retry at the same instant still waits on it
    assert store.retry_turn("ada", "c1", QUESTION, **when) is False


def test_a_retry_stores_its_streaming_answer_in_its_own_write_so_a_stop_finds_it(
    store: DynamoChatStore,
) -> None:
    # GIVEN a failed turn (its first answer gone with it)
    store.finish_turn("ada", "c1", QUESTION, reply=None, state=TurnState.FAILED, started=ANSWER)
    when = {"now": "2026-11-25T21:00:00.000Z", "stale_before": "2026-11-25T20:30:00.000Z"}
    retried = Message(
        "a2", Role.ASSISTANT, "", "2026-11-25T21:00:00.001Z", status=MessageStatus.STREAMING
    )
    # WHEN it is retried with a new answer, before that answer's job has started
    assert store.retry_turn("ada", "c1", QUESTION, **when, reply=retried)
    # THEN a stop requested at once finds that answer
    assert store.request_stop("ada", "c1", stale_before=when["stale_before"]) == ["a2"]


def test_a_reply_whose_job_started_late_can_be_stopped_while_it_may_still_run(
    store: DynamoChatStore,
) -> None:
    # GIVEN a turn acknowledged at 20:00 whose job arrived late and claimed it at 20:06
    store.claim_turn("ada", "c1", FIRST, now="2026-11-25T20:06:00.000Z")
    # WHEN a stop comes at 20:08, past a reply's run (3 min here) from the
    # acknowledgement but not from the claim
    stopping = store.request_stop("ada", "c1", stale_before="2026-11-25T20:05:00.000Z")
    # THEN it is recorded: the reply is still running
    assert stopping == ["a1"]
    # AND history sees when it started
    reply = store.history("ada", "c1", limit=5, before=None)[0][-1]
    assert reply.started_at == "2026-11-25T20:06:00.000Z"


def test_a_stop_is_not_recorded_on_a_reply_that_died_with_its_invocation(
    store: DynamoChatStore,
) -> None:
    # GIVEN a reply claimed at 20:01 whose invocation died, and one never claimed
    store.claim_turn("ada", "c1", FIRST, now="2026-11-25T20:01:00.000Z")
    # WHEN a stop comes more than a reply's run after the claim
    # THEN nothing is streaming any more
    assert store.request_stop("ada", "c1", stale_before="2026-11-25T20:05:00.000Z") == []


def test_a_delete_names_the_replies_still_sending_until_each_says_it_ended(
    store: DynamoChatStore, moto_aws: Any
) -> None:
    # GIVEN a reply whose job claimed its turn at 20:06
    store.claim_turn("ada", "c1", FIRST, now="2026-11-25T20:06:00.000Z")
    # WHEN the conversation is deleted at 20:07 (a reply may run 3 min here)
    sending = store.delete("ada", "c1", stale_before="2026-11-25T20:04:00.000Z")
    # THEN that reply may still be sending: the closed conversation waits for it
    assert sending == ["a1"] and store.replies_sending("ada", "c1") == ["a1"]
    assert store.conversation("ada", "c1") is None  # out of the list at once
    # WHEN the reply says it ended THEN nothing is sending; forgetting leaves nothing
    store.reply_ended("ada", "c1", ANSWER)
    assert store.replies_sending("ada", "c1") == []
    store.forget("ada", "c1")
    left = moto_aws.scan(TableName=CHAT_TABLE)["Items"]
    assert not [i for i in left if i["pk"]["S"].endswith("#CONV#c1")]
    # AND a reply saying it ended after that brings nothing back
    store.reply_ended("ada", "c1", ANSWER)
    assert store.replies_sending("ada", "c1") == []


def test_a_delete_does_not_wait_for_replies_not_started_or_long_dead(
    store: DynamoChatStore,
) -> None:
    # GIVEN a turn whose job has not claimed it (still queued): it will find it gone
    # WHEN the conversation is deleted THEN nothing is waited for, and it is all gone
    assert store.delete("ada", "c1", stale_before="2026-11-25T20:04:00.000Z") == []
    assert store.replies_sending("ada", "c1") == []
