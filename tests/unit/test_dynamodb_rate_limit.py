"""The per-user chat limit against moto: a fixed window per minute, shared by connections."""

from __future__ import annotations

from typing import Any

from realtime_chat.adapters.dynamodb_rate_limit import DynamoRateLimiter
from tests.support.aws import CHAT_TABLE

MINUTE = 1_800_000_000.0 - 1_800_000_000.0 % 60  # the start of a window


def test_the_limit_holds_within_a_minute_and_resets_with_the_next(moto_aws: Any) -> None:
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=3)
    assert [limiter.acquire("ada", now=MINUTE + n) for n in range(3)] == [None, None, None]
    assert limiter.acquire("ada", now=MINUTE + 15) == 45  # seconds until the next window
    assert limiter.acquire("bob", now=MINUTE + 15) is None  # per user
    assert limiter.acquire("ada", now=MINUTE + 60) is None
    assert limiter.acquire("ada", now=MINUTE + 61) is None


def test_zero_means_no_limit_and_no_request(moto_aws: Any) -> None:
    limiter = DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=0)
    assert all(limiter.acquire("ada", now=MINUTE) is None for _ in range(50))
    assert moto_aws.scan(TableName=CHAT_TABLE)["Items"] == []


def test_the_counter_stays_out_of_the_conversation_list(moto_aws: Any) -> None:
    from realtime_chat.adapters.dynamodb_chat import DynamoChatStore

    DynamoRateLimiter(moto_aws, CHAT_TABLE, per_minute=3).acquire("ada", now=MINUTE)
    page = DynamoChatStore(moto_aws, CHAT_TABLE).conversations("ada", limit=10, cursor=None)
    assert page.items == ()
