"""The chat table in DynamoDB: conversations and their messages, scoped per user.

One key scheme (``pk``/``sk``) and one sparse GSI:

=============  ==============================  =========================  ==================
item           pk                              sk                         GSI ``byUpdated``
=============  ==============================  =========================  ==================
conversation   ``USER#{user}#CONV#{conv}``     ``CONV``                   ``USER#{user}`` /
                                                                          ``{updatedAt}#{conv}``
message        ``USER#{user}#CONV#{conv}``     ``MSG#{timestamp}#{id}``   (not indexed)
client id      ``USER#{user}#CONV#{conv}``     ``CLIENT#{clientMessageId}``  (not indexed)
=============  ==============================  =========================  ==================

The user id is part of every key, so no query can reach another user's items.
Newest-N history is one descending Query; the conversation list is one Query
on the GSI. Neither scans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from realtime_chat.errors import ConversationNotFound
from realtime_chat.model import Conversation, Message, Page, Role, StoredMessage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["UPDATED_INDEX", "DynamoChatStore"]

UPDATED_INDEX = "byUpdated"
CONVERSATION_SK = "CONV"
MESSAGE_PREFIX = "MSG#"
CLIENT_PREFIX = "CLIENT#"
_BATCH = 25  # BatchWriteItem's limit


def conversation_pk(user_id: str, conversation_id: str) -> str:
    return f"USER#{user_id}#CONV#{conversation_id}"


def user_key(user_id: str) -> str:
    return f"USER#{user_id}"


class DynamoChatStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def conversation(self, user_id: str, conversation_id: str) -> Conversation | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={
                "pk": {"S": conversation_pk(user_id, conversation_id)},
                "sk": {"S": CONVERSATION_SK},
            },
        ).get("Item")
        return _conversation(item) if item else None

    def history(
        self, user_id: str, conversation_id: str, *, limit: int, before: str | None
    ) -> tuple[list[Message], str | None]:
        values: dict[str, Any] = {":pk": {"S": conversation_pk(user_id, conversation_id)}}
        if before is None:
            condition = "pk = :pk AND begins_with(sk, :lo)"
            values[":lo"] = {"S": MESSAGE_PREFIX}
            fetch = limit + 1  # one more tells whether an older page exists
        else:
            # BETWEEN is inclusive: the cursor's own item may come back; drop it below.
            condition = "pk = :pk AND sk BETWEEN :lo AND :hi"
            values[":lo"] = {"S": MESSAGE_PREFIX}
            values[":hi"] = {"S": MESSAGE_PREFIX + before}
            fetch = limit + 2
        items = self._client.query(
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=fetch,
        ).get("Items", [])
        newest_first = [
            _message(item) for item in items if item["sk"]["S"] != MESSAGE_PREFIX + (before or "")
        ]
        page = newest_first[:limit]
        next_before = None
        if len(newest_first) > limit and page:
            oldest = page[-1]
            next_before = f"{oldest.timestamp}#{oldest.message_id}"
        page.reverse()
        return page, next_before

    def conversations(self, user_id: str, *, limit: int, cursor: str | None) -> Page[Conversation]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": UPDATED_INDEX,
            "KeyConditionExpression": "gsi1pk = :u",
            "ExpressionAttributeValues": {":u": {"S": user_key(user_id)}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor is not None:
            # The cursor is the last item's GSI sort key; the rest of the key is rebuilt
            # from the caller's own user id, so a forged cursor cannot leave their partition.
            _, _, conversation_id = cursor.partition("#")
            kwargs["ExclusiveStartKey"] = {
                "pk": {"S": conversation_pk(user_id, conversation_id)},
                "sk": {"S": CONVERSATION_SK},
                "gsi1pk": {"S": user_key(user_id)},
                "gsi1sk": {"S": cursor},
            }
        page = self._client.query(**kwargs)
        items = tuple(_conversation(i) for i in page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        return Page(items=items, next_cursor=last["gsi1sk"]["S"] if last else None)

    def rename(self, user_id: str, conversation_id: str, title: str) -> Conversation:
        from botocore.exceptions import ClientError

        try:
            item = self._client.update_item(
                TableName=self._table,
                Key={
                    "pk": {"S": conversation_pk(user_id, conversation_id)},
                    "sk": {"S": CONVERSATION_SK},
                },
                UpdateExpression="SET title = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"S": title}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConversationNotFound(conversation_id) from None
            raise
        return _conversation(item)

    def delete(self, user_id: str, conversation_id: str) -> None:
        pk = conversation_pk(user_id, conversation_id)
        keys: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "pk, sk",
        }
        while True:
            page = self._client.query(**kwargs)
            keys.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if not any(k["sk"]["S"] == CONVERSATION_SK for k in keys):
            raise ConversationNotFound(conversation_id)
        # Messages first, the conversation item last: an interrupted delete leaves the
        # conversation listed (and deletable again), never orphaned messages.
        keys.sort(key=lambda k: k["sk"]["S"] == CONVERSATION_SK)
        for start in range(0, len(keys), _BATCH):
            self._delete_batch(keys[start : start + _BATCH])

    def add_message(
        self,
        user_id: str,
        conversation_id: str,
        message: Message,
        *,
        title: str,
        client_message_id: str | None = None,
    ) -> StoredMessage:
        """Store a message and move the conversation's ``updatedAt``, atomically.

        The conversation item is created on first use (``title`` and ``createdAt`` are
        set only then). With a ``client_message_id`` already used in this conversation,
        nothing is written and the message stored the first time is returned.
        """
        from botocore.exceptions import ClientError

        pk = conversation_pk(user_id, conversation_id)
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {"pk": {"S": pk}, **_message_item(message)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Update": self._touch(user_id, conversation_id, message.timestamp, title)},
        ]
        if client_message_id is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": pk},
                            "sk": {"S": CLIENT_PREFIX + client_message_id},
                            "messageId": {"S": message.message_id},
                            "timestamp": {"S": message.timestamp},
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as err:
            reasons = err.response.get("CancellationReasons", [])
            if (
                client_message_id is None
                or len(reasons) != 3
                or reasons[2].get("Code") != "ConditionalCheckFailed"
            ):
                raise
            return self._first_use(pk, client_message_id, message)
        return StoredMessage(message=message, duplicate=False)

    def _first_use(self, pk: str, client_message_id: str, message: Message) -> StoredMessage:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": pk}, "sk": {"S": CLIENT_PREFIX + client_message_id}},
            ConsistentRead=True,
        )["Item"]
        first = Message(
            message_id=item["messageId"]["S"],
            role=message.role,
            content=message.content,
            timestamp=item["timestamp"]["S"],
        )
        return StoredMessage(message=first, duplicate=True)

    def _touch(self, user_id: str, conversation_id: str, now: str, title: str) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": {
                "pk": {"S": conversation_pk(user_id, conversation_id)},
                "sk": {"S": CONVERSATION_SK},
            },
            "UpdateExpression": (
                "SET conversationId = :c, title = if_not_exists(title, :t), "
                "createdAt = if_not_exists(createdAt, :now), updatedAt = :now, "
                "gsi1pk = :u, gsi1sk = :order"
            ),
            "ExpressionAttributeValues": {
                ":c": {"S": conversation_id},
                ":t": {"S": title},
                ":now": {"S": now},
                ":u": {"S": user_key(user_id)},
                ":order": {"S": f"{now}#{conversation_id}"},
            },
        }

    def _delete_batch(self, keys: list[dict[str, Any]]) -> None:
        import time

        requests: Any = [{"DeleteRequest": {"Key": key}} for key in keys]
        for attempt in range(8):
            unprocessed = self._client.batch_write_item(RequestItems={self._table: requests}).get(
                "UnprocessedItems", {}
            )
            requests = unprocessed.get(self._table)
            if not requests:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError(f"DynamoDB left {len(requests)} deletes unprocessed after retries")


def _conversation(item: dict[str, Any]) -> Conversation:
    return Conversation(
        conversation_id=item["conversationId"]["S"],
        title=item.get("title", {}).get("S", ""),
        created_at=item["createdAt"]["S"],
        updated_at=item["updatedAt"]["S"],
    )


def _message_item(message: Message) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sk": {"S": f"{MESSAGE_PREFIX}{message.timestamp}#{message.message_id}"},
        "messageId": {"S": message.message_id},
        "role": {"S": message.role.value},
        "content": {"S": message.content},
        "timestamp": {"S": message.timestamp},
    }
    if message.model:
        item["model"] = {"S": message.model}
    if message.finish_reason:
        item["finishReason"] = {"S": message.finish_reason}
    if message.usage:
        item["usage"] = {"M": {k: {"N": str(v)} for k, v in message.usage.items()}}
    return item


def _message(item: dict[str, Any]) -> Message:
    usage = {k: int(v["N"]) for k, v in item.get("usage", {}).get("M", {}).items()}
    return Message(
        message_id=item["messageId"]["S"],
        role=Role(item["role"]["S"]),
        content=item["content"]["S"],
        timestamp=item["timestamp"]["S"],
        model=item.get("model", {}).get("S"),
        finish_reason=item.get("finishReason", {}).get("S"),
        usage=usage,
    )
