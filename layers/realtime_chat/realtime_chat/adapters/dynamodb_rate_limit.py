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

A new message's ``clientMessageId`` is **claimed in the same write** (a transaction
of the bucket's update and a conditional put of the id's item, ``claimedUntil`` set):
of several tabs sending one id at once, the one charged is the one that stores the
turn, and the others find the id taken (not charged, answered as retries) even while
that turn is still being stored. So a duplicate at the limit is never told
``RATE_LIMITED`` for a message that was accepted. A claim whose send died before
storing its turn lapses after :data:`CLAIM_SECONDS`.

Item: ``pk = USER#{user}``, ``sk = RATE#chat_message``, ``tat`` (epoch ms),
``tokens_{YYYYMMDD}`` (AI tokens used that UTC day).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, cast

from realtime_chat.adapters.dynamodb_items import (
    CLAIMED_UNTIL,
    CLIENT_ID_SECONDS,
    MESSAGE_PREFIX,
    client_key,
    user_key,
)
from realtime_chat.ports import MessageClaim, Refusal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoRateLimiter"]

WINDOW_MS = 60_000
DAY_SECONDS = 86_400
_ATTEMPTS = 6  # each lost race means another message was counted: bounded
# How long a claimed clientMessageId waits for its turn: past the route's 29 s, the
# send that claimed it has died without storing it, and a retry may claim it again.
CLAIM_SECONDS = 60
# The id is free, or only claimed by a send that died before storing its turn.
CLIENT_ID_FREE = f"attribute_not_exists(pk) OR {CLAIMED_UNTIL} < :now"


class _ClientIdTaken(Exception):
    """The claimed ``clientMessageId`` is another send's: nothing was charged."""


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

    def acquire(
        self, user_id: str, *, now: float, claim: MessageClaim | None = None
    ) -> Refusal | None:
        if not self._counting:
            return None
        now_ms = int(now * 1000)
        key = _key(user_id)
        spent = _day_attribute(now)
        taking = None if claim is None else _claim_put(self._table, user_id, claim, now_ms)
        tat: int | None = None  # unknown until a write tells us
        for _ in range(_ATTEMPTS):
            try:
                if tat is None or tat <= now_ms:
                    old = self._start(key, now_ms, spent, taking)  # idle: tat restarts now
                elif tat - now_ms <= self._tolerance:
                    old = self._take(key, now_ms, spent, taking)  # tokens left: tat moves on
                else:
                    return Refusal(max(1, math.ceil((tat - self._tolerance - now_ms) / 1000)))
            except _ClientIdTaken:
                return Refusal(0, duplicate=True)
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

    def release(self, user_id: str, *, claim: MessageClaim | None = None) -> None:
        if not self._counting:
            return
        from botocore.exceptions import ClientError

        if claim is not None:
            try:  # only while no turn was stored under it (storing the turn unclaims it)
                self._client.delete_item(
                    TableName=self._table,
                    Key=client_key(user_id, claim.client_message_id),
                    ConditionExpression=f"attribute_exists({CLAIMED_UNTIL}) AND sk2 = :sk2",
                    ExpressionAttributeValues={":sk2": {"S": _message_sk(claim)}},
                )
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
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

    def _start(
        self, key: dict[str, Any], now_ms: int, spent: str, taking: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """None when counted; else the item as it was (its ``tat``, today's tokens)."""
        return self._update(
            key,
            "SET tat = :next",
            "(attribute_not_exists(tat) OR tat <= :now)",
            {":next": {"N": str(now_ms + self._interval)}, ":now": {"N": str(now_ms)}},
            spent,
            taking,
        )

    def _take(
        self, key: dict[str, Any], now_ms: int, spent: str, taking: dict[str, Any] | None
    ) -> dict[str, Any] | None:
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
            taking,
        )

    def _update(
        self,
        key: dict[str, Any],
        update: str,
        condition: str,
        values: dict[str, Any],
        spent: str,
        taking: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        """None when counted (and ``taking`` put); else the bucket as it was. Raises
        ``_ClientIdTaken`` when ``taking``'s client id is another send's."""
        from botocore.exceptions import ClientError

        if self._daily > 0:  # and today's tokens under the budget, in the same request
            condition += " AND " + _UNDER_BUDGET
            values = values | {":budget": {"N": str(self._daily)}}
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": key,
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            # The item as it was, so a refusal needs no second read.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if self._daily > 0:
            request["ExpressionAttributeNames"] = {"#spent": spent}
        if taking is not None:
            return self._update_and_take(request, taking)
        try:
            self._client.update_item(**request)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # botocore's typing does not know this response field.
            return cast(dict[str, Any], err.response).get("Item") or {}
        return None

    def _update_and_take(
        self, request: dict[str, Any], taking: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The bucket's update and the client id's claim, atomically."""
        from botocore.exceptions import ClientError

        items: list[Any] = [{"Put": taking}, {"Update": request}]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as err:
            if err.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            claim, bucket = cast(dict[str, Any], err.response).get("CancellationReasons", [])
            if claim.get("Code") == "ConditionalCheckFailed":
                raise _ClientIdTaken from None
            if bucket.get("Code") == "ConditionalCheckFailed":
                return cast(dict[str, Any], bucket.get("Item") or {})
            if "TransactionConflict" in (claim.get("Code"), bucket.get("Code")):
                return {}  # a concurrent write to the bucket: try again, as after a lost race
            raise
        return None


_UNDER_BUDGET = "(attribute_not_exists(#spent) OR #spent < :budget)"


def _message_sk(claim: MessageClaim) -> str:
    return f"{MESSAGE_PREFIX}{claim.timestamp}#{claim.message_id}"


def _claim_put(table: str, user_id: str, claim: MessageClaim, now_ms: int) -> dict[str, Any]:
    """The client id's item as its turn will store it, marked claimed until the claim
    lapses; put only while the id is free."""
    return {
        "TableName": table,
        "Item": {
            **client_key(user_id, claim.client_message_id),
            "conversationId": {"S": claim.conversation_id},
            "sk2": {"S": _message_sk(claim)},
            "ttl": {"N": str(now_ms // 1000 + CLIENT_ID_SECONDS)},
            CLAIMED_UNTIL: {"N": str(now_ms + CLAIM_SECONDS * 1000)},
        },
        "ConditionExpression": CLIENT_ID_FREE,
        "ExpressionAttributeValues": {":now": {"N": str(now_ms)}},
    }


def _key(user_id: str) -> dict[str, Any]:
    return {"pk": {"S": user_key(user_id)}, "sk": {"S": "RATE#chat_message"}}


def _day_attribute(now: float) -> str:
    return "tokens_" + time.strftime("%Y%m%d", time.gmtime(now))


def _until_next_day(now: float) -> int:
    """Seconds until 00:00 UTC, when the daily budget starts afresh."""
    return max(1, math.ceil(DAY_SECONDS - now % DAY_SECONDS))
