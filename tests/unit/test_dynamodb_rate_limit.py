"""The per-user chat limit against moto: a token bucket shared by all of a user's
connections, exact under concurrency, with nothing special at a minute's boundary."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from realtime_chat.adapters.dynamodb_items import user_key
from realtime_chat.adapters.dynamodb_rate_limit import DynamoRateLimiter
from realtime_chat.ports import MessageClaim, Refusal
from tests.support.aws import CHAT_TABLE

BOUNDARY = 1_800_000_000.0 - 1_800_000_000.0 % 60  # the first instant of a minute
MIDNIGHT = 1_800_000_000.0 - 1_800_000_000.0 % 86_400  # 00:00 UTC of a day


def _wait(limiter: DynamoRateLimiter, user: str, now: float) -> int | None:
    """Seconds to wait, or None when the message may go."""
    refusal = limiter.acquire(user, now=now)
    return None if refusal is None else refusal.retry_after


def test_a_burst_of_the_limit_is_allowed_then_one_message_per_interval(moto_aws: Any) -> None:
    # GIVEN 3 messages a minute: one token back every 20 s
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=3)
    t = BOUNDARY + 7
    # WHEN ada sends 3 at once THEN all pass, and a 4th waits for the next token
    assert [_wait(limiter, "ada", t) for _ in range(3)] == [None, None, None]
    assert _wait(limiter, "ada", t) == 20
    assert _wait(limiter, "ada", t + 15) == 5
    # AND each user has a bucket of their own
    assert _wait(limiter, "bob", t) is None
    # AND a token is back 20 s later, one only
    assert _wait(limiter, "ada", t + 20) is None
    assert _wait(limiter, "ada", t + 20) == 20
    # AND after a quiet minute the whole burst is back
    assert [_wait(limiter, "ada", t + 80) for _ in range(3)] == [None, None, None]


@pytest.mark.parametrize("offset", [-0.001, 0.0, 0.001])
def test_parallel_sends_at_a_minute_boundary_are_counted_exactly(
    moto_aws: Any, offset: float
) -> None:
    # GIVEN a fresh user, a limit of 20 and a clock frozen at a minute's boundary
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=20)
    now = BOUNDARY + offset
    # WHEN 30 messages are sent at once from many connections
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: _wait(limiter, "ada", now), range(30)))
    # THEN exactly 20 pass, and the 10 refused are told the same honest wait
    assert answers.count(None) == 20
    assert {a for a in answers if a is not None} == {3}


def test_four_messages_at_once_from_a_fresh_user_all_pass(moto_aws: Any) -> None:
    # The reported defect: 1 accepted and 3 refused while the counter read 1/20.
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=20)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: _wait(limiter, "new", BOUNDARY), range(4)))
    assert answers == [None] * 4


def test_a_released_message_gives_its_token_back(moto_aws: Any) -> None:
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=2)
    assert [_wait(limiter, "ada", BOUNDARY) for _ in range(2)] == [None, None]
    limiter.release("ada")
    assert _wait(limiter, "ada", BOUNDARY) is None
    assert _wait(limiter, "ada", BOUNDARY) == 30


def test_zero_means_no_limit_and_no_request(moto_aws: Any) -> None:
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=0)
    assert all(_wait(limiter, "ada", BOUNDARY) is None for _ in range(50))
    limiter.release("ada")
    assert moto_aws.scan(TableName=CHAT_TABLE)["Items"] == []


def test_the_counter_stays_out_of_the_conversation_list(moto_aws: Any) -> None:
    from realtime_chat.adapters.dynamodb_chat import DynamoChatStore

    DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=3).acquire("ada", now=BOUNDARY)
    page = DynamoChatStore(moto_aws, CHAT_TABLE).conversations("ada", limit=10, cursor=None)
    assert page.items == ()


def test_a_user_past_the_daily_token_budget_waits_for_midnight_utc(moto_aws: Any) -> None:
    # GIVEN a budget of 1,000 tokens a day and no minute limit to speak of
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=10_000, daily_tokens=1000)
    morning = MIDNIGHT + 8 * 3600
    # WHEN ada's replies use 600, then 500 tokens
    assert _wait(limiter, "ada", morning) is None
    limiter.spend("ada", 600, now=morning)
    assert _wait(limiter, "ada", morning + 60) is None  # 600 < 1,000: still allowed
    limiter.spend("ada", 500, now=morning + 60)
    # THEN her next message is refused until 00:00 UTC, and says it is the day's budget
    refusal = limiter.acquire("ada", now=morning + 120)
    assert refusal is not None and refusal.daily_budget
    assert refusal.retry_after == 16 * 3600 - 120
    # ... while bob, who spent nothing, may chat
    assert _wait(limiter, "bob", morning + 120) is None
    # ... and the next day ada starts afresh, yesterday's count gone from the item
    assert _wait(limiter, "ada", MIDNIGHT + 86_400 + 1) is None
    limiter.spend("ada", 10, now=MIDNIGHT + 86_400 + 2)
    item = moto_aws.get_item(
        TableName=CHAT_TABLE,
        Key={"pk": {"S": user_key("ada")}, "sk": {"S": "RATE#chat_message"}},
    )["Item"]
    assert {k: v for k, v in item.items() if k.startswith("tokens_")} == {
        "tokens_20270116": {"N": "10"}
    }


def test_the_budget_check_costs_no_request_of_its_own(moto_aws: Any) -> None:
    # One UpdateItem per message decides both the minute limit and the day's budget.
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=20, daily_tokens=1000)
    calls: list[str] = []
    moto_aws.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    assert _wait(limiter, "ada", BOUNDARY) is None
    assert calls == ["UpdateItem"]


def test_spending_exactly_the_budget_uses_it_up(moto_aws: Any) -> None:
    # GIVEN a budget of 1,000 tokens, all of them spent
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=0, daily_tokens=1000)
    morning = MIDNIGHT + 8 * 3600
    assert _wait(limiter, "ada", morning) is None
    limiter.spend("ada", 1000, now=morning)
    # WHEN she sends again THEN it is refused as the day's budget
    refusal = limiter.acquire("ada", now=morning + 1)
    assert refusal is not None and refusal.daily_budget


def _claim(cid: str, message_id: str = "m1") -> MessageClaim:
    return MessageClaim(cid, "c1", message_id, "2027-01-15T08:00:00.000Z")


def test_a_client_id_is_claimed_by_one_send_and_its_duplicates_are_not_charged(
    moto_aws: Any,
) -> None:
    # GIVEN one message a minute
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=1)
    # WHEN two sends claim the same clientMessageId with the minute's one message
    first = limiter.acquire("ada", now=BOUNDARY, claim=_claim("x", "m1"))
    second = limiter.acquire("ada", now=BOUNDARY, claim=_claim("x", "m2"))
    # THEN the first is charged, the second is a duplicate (not a refusal for rate)
    assert first is None
    assert second == Refusal(0, duplicate=True)
    # AND the id's item names the first send's message, its conversation and a TTL
    # of a week from now
    item = moto_aws.get_item(
        TableName=CHAT_TABLE, Key={"pk": {"S": user_key("ada")}, "sk": {"S": "CLIENT#x"}}
    )["Item"]
    assert item["sk2"]["S"] == "MSG#2027-01-15T08:00:00.000Z#m1"
    assert item["conversationId"]["S"] == "c1"
    assert int(item["ttl"]["N"]) == int(BOUNDARY) + 7 * 24 * 3600
    # AND a new message is refused for rate: only one was charged, and it stored nothing
    refusal = limiter.acquire("ada", now=BOUNDARY, claim=_claim("y", "m3"))
    assert refusal is not None and not refusal.duplicate and refusal.retry_after == 60
    refusal = limiter.acquire("ada", now=BOUNDARY, claim=_claim("y", "m3"))
    assert refusal is not None and not refusal.duplicate  # a refused send claims nothing


def test_a_released_claim_gives_back_the_token_and_the_client_id(moto_aws: Any) -> None:
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=1)
    assert limiter.acquire("ada", now=BOUNDARY, claim=_claim("x", "m1")) is None
    limiter.release("ada", claim=_claim("x", "m1"))
    assert limiter.acquire("ada", now=BOUNDARY, claim=_claim("x", "m2")) is None


def test_a_claim_whose_send_died_lapses_after_a_minute(moto_aws: Any) -> None:
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=10)
    assert limiter.acquire("ada", now=BOUNDARY, claim=_claim("x", "m1")) is None
    late = limiter.acquire("ada", now=BOUNDARY + 59, claim=_claim("x", "m2"))
    assert late is not None and late.duplicate
    assert limiter.acquire("ada", now=BOUNDARY + 61, claim=_claim("x", "m3")) is None


def test_releasing_a_claim_whose_turn_was_stored_keeps_the_turn(moto_aws: Any) -> None:
    from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
    from realtime_chat.domain import Message, Role

    # GIVEN a claimed id whose turn was stored
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=5)
    store = DynamoChatStore(moto_aws, CHAT_TABLE)
    claim = _claim("x", "m1")
    assert limiter.acquire("ada", now=BOUNDARY, claim=claim) is None
    question = Message("m1", Role.USER, "hi", claim.timestamp)
    store.begin_turn("ada", "c1", question, title="hi", client_message_id="x")
    # WHEN its token is given back with the claim (a late cleanup)
    limiter.release("ada", claim=claim)
    # THEN the turn is still found by its id, and the id stays taken
    turn = store.find_turn("ada", "x")
    assert turn is not None and turn.message == question
    again = limiter.acquire("ada", now=BOUNDARY, claim=_claim("x", "m2"))
    assert again is not None and again.duplicate
