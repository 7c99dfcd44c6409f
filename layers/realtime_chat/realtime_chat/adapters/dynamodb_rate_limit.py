"""A per-user token bucket of chat messages, in the chat table: a burst of up to
``per_minute`` messages, refilled at ``per_minute`` a minute.

The bucket is one number, the "theoretical arrival time" of GCRA (the generic cell
rate algorithm): ``tat`` moves one interval (60 s / ``per_minute``) into the future
per message, and a message is allowed while ``tat`` is at most one minute less one
interval ahead of now. Each message is one conditional UpdateItem, atomic in
DynamoDB, so concurrent messages from several connections are counted exactly,
with no window boundary to race on. A second write is needed only when the bucket
has tokens and another message is already waiting on it (a burst), or to give a
token back (a retry turned out to be a duplicate).

The same item carries the user's **daily AI token budget**: ``tokens_{YYYYMMDD}``
(UTC day) grows by what each reply used, and the message's own conditional update
also asks that today's count be under the budget, so the check costs no request of
its own. Yesterday's count is removed as today's grows.

Item: ``pk = USER#{user}``, ``sk = RATE#chat_message``, ``tat`` (epoch ms),
``tokens_{YYYYMMDD}`` (AI tokens used that UTC day).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, cast

from realtime_chat.adapters.dynamodb_items import user_key
from realtime_chat.ports import Refusal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoRateLimiter"]

WINDOW_MS = 60_000
DAY_SECONDS = 86_400
_ATTEMPTS = 6  # each lost race means another message was counted: bounded


class DynamoRateLimiter:
    def __init__(
        self, client: DynamoDBClient, table: str, *, per_minute: int, daily_tokens: int = 0
    ) -> None:
        self._client = client
        self._table = table
        self._limit = per_minute
        self._daily = daily_tokens
        self._interval = math.ceil(WINDOW_MS / per_minute) if per_minute > 0 else 0
        self._tolerance = WINDOW_MS - self._interval  # how far ahead tat may run

    @property
    def _counting(self) -> bool:
        return self._limit > 0 or self._daily > 0

    def acquire(self, user_id: str, *, now: float) -> Refusal | None:
        if not self._counting:
            return None
        now_ms = int(now * 1000)
        key = _key(user_id)
        spent = _day_attribute(now)
        tat: int | None = None  # unknown until a write tells us
        for _ in range(_ATTEMPTS):
            if tat is None or tat <= now_ms:
                old = self._start(key, now_ms, spent)  # idle: tat restarts from now
            elif tat - now_ms <= self._tolerance:
                old = self._take(key, now_ms, spent)  # tokens left: tat moves on
            else:
                return Refusal(max(1, math.ceil((tat - self._tolerance - now_ms) / 1000)))
            if old is None:
                return None
            if self._daily > 0 and int(old.get(spent, {}).get("N", "0")) >= self._daily:
                return Refusal(_until_next_day(now), daily_budget=True)
            tat = int(old.get("tat", {}).get("N", "0"))
        return Refusal(1)  # extraordinary contention: ask the client to retry shortly

    def spend(self, user_id: str, tokens: int, *, now: float) -> None:
        if self._daily <= 0 or tokens <= 0:
            return
        self._client.update_item(
            TableName=self._table,
            Key=_key(user_id),
            UpdateExpression="ADD #today :n REMOVE #yesterday",
            ExpressionAttributeNames={
                "#today": _day_attribute(now),
                "#yesterday": _day_attribute(now - DAY_SECONDS),
            },
            ExpressionAttributeValues={":n": {"N": str(tokens)}},
        )

    def release(self, user_id: str) -> None:
        if not self._counting:
            return
        from botocore.exceptions import ClientError

        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(user_id),
                UpdateExpression="SET tat = tat - :i",
                ConditionExpression="attribute_exists(tat)",
                ExpressionAttributeValues={":i": {"N": str(self._interval)}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _start(self, key: dict[str, Any], now_ms: int, spent: str) -> dict[str, Any] | None:
        """None when counted; else the item as it was (its ``tat``, today's tokens)."""
        return self._update(
            key,
            "SET tat = :next",
            "(attribute_not_exists(tat) OR tat <= :now)",
            {":next": {"N": str(now_ms + self._interval)}, ":now": {"N": str(now_ms)}},
            spent,
        )

    def _take(self, key: dict[str, Any], now_ms: int, spent: str) -> dict[str, Any] | None:
        return self._update(
            key,
            "SET tat = tat + :i",
            "(tat > :now AND tat <= :latest)",
            {
                ":i": {"N": str(self._interval)},
                ":now": {"N": str(now_ms)},
                ":latest": {"N": str(now_ms + self._tolerance)},
            },
            spent,
        )

    def _update(
        self,
        key: dict[str, Any],
        update: str,
        condition: str,
        values: dict[str, Any],
        spent: str,
    ) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        extra: dict[str, Any] = {}
        if self._daily > 0:  # and today's tokens under the budget, in the same request
            condition += " AND (attribute_not_exists(#spent) OR #spent < :budget)"
            values = values | {":budget": {"N": str(self._daily)}}
            extra["ExpressionAttributeNames"] = {"#spent": spent}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                # The item as it was, so a refusal needs no second read.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **extra,
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # botocore's typing does not know this response field.
            return cast(dict[str, Any], err.response).get("Item") or {}
        return None


def _key(user_id: str) -> dict[str, Any]:
    return {"pk": {"S": user_key(user_id)}, "sk": {"S": "RATE#chat_message"}}


def _day_attribute(now: float) -> str:
    return "tokens_" + time.strftime("%Y%m%d", time.gmtime(now))


def _until_next_day(now: float) -> int:
    """Seconds until 00:00 UTC, when the daily budget starts afresh."""
    return max(1, math.ceil(DAY_SECONDS - now % DAY_SECONDS))
