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

Item: ``pk = USER#{user}``, ``sk = RATE#chat_message``, ``tat`` (epoch ms).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

from realtime_chat.adapters.dynamodb_items import user_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoRateLimiter"]

WINDOW_MS = 60_000
_ATTEMPTS = 6  # each lost race means another message was counted: bounded


class DynamoRateLimiter:
    def __init__(self, client: DynamoDBClient, table: str, *, per_minute: int) -> None:
        self._client = client
        self._table = table
        self._limit = per_minute
        self._interval = math.ceil(WINDOW_MS / per_minute) if per_minute > 0 else 0
        self._tolerance = WINDOW_MS - self._interval  # how far ahead tat may run

    def acquire(self, user_id: str, *, now: float) -> int | None:
        if self._limit <= 0:
            return None
        now_ms = int(now * 1000)
        key = _key(user_id)
        tat: int | None = None  # unknown until a write tells us
        for _ in range(_ATTEMPTS):
            if tat is None or tat <= now_ms:
                tat = self._start(key, now_ms)  # an idle bucket: tat restarts from now
            elif tat - now_ms <= self._tolerance:
                tat = self._take(key, now_ms)  # tokens left: tat moves one interval on
            else:
                return max(1, math.ceil((tat - self._tolerance - now_ms) / 1000))
            if tat is None:
                return None
        return 1  # extraordinary contention: ask the client to retry shortly

    def release(self, user_id: str) -> None:
        if self._limit <= 0:
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

    def _start(self, key: dict[str, Any], now_ms: int) -> int | None:
        """None when counted; else the ``tat`` another message has set."""
        return self._update(
            key,
            "SET tat = :next",
            "attribute_not_exists(tat) OR tat <= :now",
            {":next": {"N": str(now_ms + self._interval)}, ":now": {"N": str(now_ms)}},
        )

    def _take(self, key: dict[str, Any], now_ms: int) -> int | None:
        return self._update(
            key,
            "SET tat = tat + :i",
            "tat > :now AND tat <= :latest",
            {
                ":i": {"N": str(self._interval)},
                ":now": {"N": str(now_ms)},
                ":latest": {"N": str(now_ms + self._tolerance)},
            },
        )

    def _update(
        self, key: dict[str, Any], update: str, condition: str, values: dict[str, Any]
    ) -> int | None:
        from botocore.exceptions import ClientError

        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                # The item as it was, so a refusal needs no second read.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # botocore's typing does not know this response field.
            old: dict[str, Any] = cast(dict[str, Any], err.response).get("Item") or {}
            return int(old.get("tat", {}).get("N", "0"))
        return None


def _key(user_id: str) -> dict[str, Any]:
    return {"pk": {"S": user_key(user_id)}, "sk": {"S": "RATE#chat_message"}}
