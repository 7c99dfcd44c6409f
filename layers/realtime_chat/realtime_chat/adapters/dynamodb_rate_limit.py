"""A per-user fixed-window counter of chat messages, in the chat table.

One item per user (``pk = USER#{user}``, ``sk = RATE#chat_message``, outside the
GSI): one conditional UpdateItem per message, a second write when a new minute
starts. Limits the AI spend one account can cause, across all its connections.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from realtime_chat.adapters.dynamodb_chat import user_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoRateLimiter"]

WINDOW_SECONDS = 60


class DynamoRateLimiter:
    def __init__(self, client: DynamoDBClient, table: str, *, per_minute: int) -> None:
        self._client = client
        self._table = table
        self._limit = per_minute

    def acquire(self, user_id: str, *, now: float) -> int | None:
        if self._limit <= 0:
            return None
        window = int(now // WINDOW_SECONDS)
        key = {"pk": {"S": user_key(user_id)}, "sk": {"S": "RATE#chat_message"}}
        for _ in range(2):  # a second pass only when another request started the window
            if self._count(key, window):
                return None
            if self._start(key, window):
                return None
            if self._window_of(key) == window:
                return max(1, (window + 1) * WINDOW_SECONDS - int(now))
        return max(1, (window + 1) * WINDOW_SECONDS - int(now))

    def _count(self, key: dict[str, Any], window: int) -> bool:
        """One more message in the current window, if it is not full."""
        return self._conditional(
            self._client.update_item,
            TableName=self._table,
            Key=key,
            UpdateExpression="ADD messages :one",
            ConditionExpression="chatWindow = :w AND messages < :limit",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":w": {"N": str(window)},
                ":limit": {"N": str(self._limit)},
            },
        )

    def _start(self, key: dict[str, Any], window: int) -> bool:
        """Open a new window with this message, unless the current one is still open."""
        return self._conditional(
            self._client.put_item,
            TableName=self._table,
            Item={**key, "chatWindow": {"N": str(window)}, "messages": {"N": "1"}},
            ConditionExpression="attribute_not_exists(pk) OR chatWindow < :w",
            ExpressionAttributeValues={":w": {"N": str(window)}},
        )

    def _window_of(self, key: dict[str, Any]) -> int | None:
        item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        found = item.get("Item", {}).get("chatWindow", {}).get("N")
        return int(found) if found is not None else None

    @staticmethod
    def _conditional(call: Any, **kwargs: Any) -> bool:
        from botocore.exceptions import ClientError

        try:
            call(**kwargs)
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
