"""The per-user chat limit against moto: a token bucket shared by all of a user's
connections, exact under concurrency, with nothing special at a minute's boundary."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from realtime_chat.adapters.dynamodb_rate_limit import DynamoRateLimiter
from tests.support.aws import CHAT_TABLE

BOUNDARY = 1_800_000_000.0 - 1_800_000_000.0 % 60  # the first instant of a minute


def test_a_burst_of_the_limit_is_allowed_then_one_message_per_interval(moto_aws: Any) -> None:
    # GIVEN 3 messages a minute: one token back every 20 s
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=3)
    t = BOUNDARY + 7
    # WHEN ada sends 3 at once THEN all pass, and a 4th waits for the next token
    assert [limiter.acquire("ada", now=t) for _ in range(3)] == [None, None, None]
    assert limiter.acquire("ada", now=t) == 20
    assert limiter.acquire("ada", now=t + 15) == 5
    # AND each user has a bucket of their own
    assert limiter.acquire("bob", now=t) is None
    # AND a token is back 20 s later, one only
    assert limiter.acquire("ada", now=t + 20) is None
    assert limiter.acquire("ada", now=t + 20) == 20
    # AND after a quiet minute the whole burst is back
    assert [limiter.acquire("ada", now=t + 80) for _ in range(3)] == [None, None, None]


@pytest.mark.parametrize("offset", [-0.001, 0.0, 0.001])
def test_parallel_sends_at_a_minute_boundary_are_counted_exactly(
    moto_aws: Any, offset: float
) -> None:
    # GIVEN a fresh user, a limit of 20 and a clock frozen at a minute's boundary
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=20)
    now = BOUNDARY + offset
    # WHEN 30 messages are sent at once from many connections
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: limiter.acquire("ada", now=now), range(30)))
    # THEN exactly 20 pass, and the 10 refused are told the same honest wait
    assert answers.count(None) == 20
    assert {a for a in answers if a is not None} == {3}


def test_four_messages_at_once_from_a_fresh_user_all_pass(moto_aws: Any) -> None:
    # The reported defect: 1 accepted and 3 refused while the counter read 1/20.
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=20)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: limiter.acquire("new", now=BOUNDARY), range(4)))
    assert answers == [None] * 4


def test_a_released_message_gives_its_token_back(moto_aws: Any) -> None:
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=2)
    assert [limiter.acquire("ada", now=BOUNDARY) for _ in range(2)] == [None, None]
    limiter.release("ada")
    assert limiter.acquire("ada", now=BOUNDARY) is None
    assert limiter.acquire("ada", now=BOUNDARY) == 30


def test_zero_means_no_limit_and_no_request(moto_aws: Any) -> None:
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=0)
    assert all(limiter.acquire("ada", now=BOUNDARY) is None for _ in range(50))
    limiter.release("ada")
    assert moto_aws.scan(TableName=CHAT_TABLE)["Items"] == []


def test_the_counter_stays_out_of_the_conversation_list(moto_aws: Any) -> None:
    from realtime_chat.adapters.dynamodb_chat import DynamoChatStore

    DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=3).acquire("ada", now=BOUNDARY)
    page = DynamoChatStore(moto_aws, CHAT_TABLE).conversations("ada", limit=10, cursor=None)
    assert page.items == ()
