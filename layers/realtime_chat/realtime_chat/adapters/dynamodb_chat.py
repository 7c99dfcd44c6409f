"""The chat table in DynamoDB: conversations, their messages and the turns they make,
scoped per user.

One key scheme (``pk``/``sk``) and one sparse GSI:

=============  ==============================  =========================  ==================
item           pk                              sk                         GSI ``byUpdated``
=============  ==============================  =========================  ==================
conversation   ``USER#{user}#CONV#{conv}``     ``CONV``                   ``USER#{user}`` /
                                                                          ``{updatedAt}#{conv}``
message        ``USER#{user}#CONV#{conv}``     ``MSG#{timestamp}#{id}``   (not indexed)
client id      ``USER#{user}``                 ``CLIENT#{clientMessageId}``  (not indexed)
=============  ==============================  =========================  ==================

The user id is part of every key, so no query can reach another user's items.
Newest-N history is one descending Query; the conversation list is one Query
on the GSI. Neither scans.

A ``clientMessageId`` is unique per user (not per conversation): its item points at
the turn it started, so a retry finds that turn whatever ``conversationId`` it
carries. It expires after :data:`CLIENT_ID_SECONDS` (the table's TTL). A user's
message carries its turn's state (``turn``: pending, answered, failed) and, once
answered, the sort key of the reply.

Deleting a conversation first marks it ``deleted`` (out of the list at once), then
removes its messages, then the conversation item: every write of a reply is
conditional on the conversation existing unmarked, so a reply still streaming when
the user deletes the conversation cannot bring it back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from realtime_chat.errors import ConversationNotFound
from realtime_chat.model import (
    Checkpoint,
    Conversation,
    Message,
    MessageStatus,
    Page,
    Role,
    Turn,
    TurnState,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["CLIENT_ID_SECONDS", "UPDATED_INDEX", "DynamoChatStore"]

UPDATED_INDEX = "byUpdated"
CONVERSATION_SK = "CONV"
MESSAGE_PREFIX = "MSG#"
CLIENT_PREFIX = "CLIENT#"
_BATCH = 25  # BatchWriteItem's limit
CLIENT_ID_SECONDS = 7 * 24 * 3600  # how long a clientMessageId is remembered
_LIVE = "attribute_exists(pk) AND attribute_not_exists(deleted)"
_CONFLICT_RETRIES = (0.02, 0.05, 0.1)  # seconds; TransactionConflict is transient


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
        return _conversation(item) if item and "deleted" not in item else None

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
                ConditionExpression=_LIVE,
                ExpressionAttributeValues={":t": {"S": title}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConversationNotFound(conversation_id) from None
            raise
        return _conversation(item)

    def delete(self, user_id: str, conversation_id: str) -> None:
        from botocore.exceptions import ClientError

        pk = conversation_pk(user_id, conversation_id)
        try:
            # Out of the list and closed to replies at once; a delete interrupted after
            # this point is finished by the next delete of the same conversation.
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": CONVERSATION_SK}},
                UpdateExpression="SET deleted = :t REMOVE gsi1pk, gsi1sk",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConversationNotFound(conversation_id) from None
            raise
        keys: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "pk, sk",
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**kwargs)
            keys.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        # Messages first, the conversation item last: an interrupted delete leaves the
        # marked conversation (and deletable again), never orphaned messages.
        keys.sort(key=lambda k: k["sk"]["S"] == CONVERSATION_SK)
        for start in range(0, len(keys), _BATCH):
            self._delete_batch(keys[start : start + _BATCH])

    def add_message(
        self, user_id: str, conversation_id: str, message: Message, *, title: str
    ) -> None:
        self._transact(
            [
                self._put_message(user_id, conversation_id, message),
                {"Update": self._touch(user_id, conversation_id, message.timestamp, title)},
            ]
        )

    def begin_turn(
        self,
        user_id: str,
        conversation_id: str,
        message: Message,
        *,
        title: str,
        client_message_id: str | None,
    ) -> Turn:
        """One transaction: the client id (when given), the message, the conversation."""
        items: list[Any] = []
        if client_message_id is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_client_key(user_id, client_message_id),
                            "conversationId": {"S": conversation_id},
                            "sk2": {"S": _message_sk(message)},
                            "ttl": {"N": str(int(time.time()) + CLIENT_ID_SECONDS)},
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        touch = self._touch(user_id, conversation_id, message.timestamp, title)
        touch["ConditionExpression"] = "attribute_not_exists(deleted)"
        items += [
            self._put_message(user_id, conversation_id, message, turn=TurnState.PENDING),
            {"Update": touch},
        ]
        reasons = self._transact(items, allowed_failures=True)
        if reasons is None:
            return Turn(conversation_id, message, TurnState.PENDING)
        if client_message_id is not None and reasons[0] == "ConditionalCheckFailed":
            first = self.find_turn(user_id, client_message_id)
            if first is None:  # its conversation was deleted since
                raise ConversationNotFound(conversation_id)
            return first
        if reasons[-1] == "ConditionalCheckFailed":
            raise ConversationNotFound(conversation_id)
        raise RuntimeError(f"storing the message was cancelled: {reasons}")

    def find_turn(self, user_id: str, client_message_id: str) -> Turn | None:
        marker = self._client.get_item(
            TableName=self._table, Key=_client_key(user_id, client_message_id), ConsistentRead=True
        ).get("Item")
        if marker is None:
            return None
        conversation_id = marker["conversationId"]["S"]
        pk = conversation_pk(user_id, conversation_id)
        item = self._item(pk, marker["sk2"]["S"])
        if item is None:
            return None
        question = _message(item)
        state = TurnState(item.get("turn", {}).get("S", TurnState.PENDING.value))
        reply_sk = item.get("replySk", {}).get("S")
        reply_item = self._item(pk, reply_sk) if reply_sk else None
        reply = _message(reply_item) if reply_item else None
        return Turn(conversation_id, question, state, reply, duplicate=True)

    def retry_turn(
        self, user_id: str, conversation_id: str, message: Message, *, now: str, stale_before: str
    ) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.update_item(
                TableName=self._table,
                Key=_message_key(user_id, conversation_id, message),
                UpdateExpression="SET turn = :pending, retriedAt = :now",
                # Failed, or pending for longer than a reply may run: its reply died
                # with its invocation (a timeout, out of memory).
                ConditionExpression=(
                    "turn = :failed OR (turn = :pending AND #ts < :stale AND "
                    "(attribute_not_exists(retriedAt) OR retriedAt < :stale))"
                ),
                ExpressionAttributeNames={"#ts": "timestamp"},
                ExpressionAttributeValues={
                    ":pending": {"S": TurnState.PENDING.value},
                    ":failed": {"S": TurnState.FAILED.value},
                    ":stale": {"S": stale_before},
                    ":now": {"S": now},
                },
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def start_reply(self, user_id: str, conversation_id: str, reply: Message) -> None:
        """The reply as a ``streaming`` message, noted on the conversation (so a stop can
        find it), only while the conversation is live."""
        touch: dict[str, Any] = {
            "TableName": self._table,
            "Key": _conversation_key(user_id, conversation_id),
            "UpdateExpression": "ADD streamingReplies :sk",
            "ConditionExpression": _LIVE,
            "ExpressionAttributeValues": {":sk": {"SS": [_message_sk(reply)]}},
        }
        items = [self._put_message(user_id, conversation_id, reply), {"Update": touch}]
        if self._transact(items, allowed_failures=True) is not None:
            raise ConversationNotFound(conversation_id)

    def checkpoint(
        self, user_id: str, conversation_id: str, reply: Message, *, seq: int
    ) -> Checkpoint:
        """Store the reply's text so far; the write itself says whether to go on: it
        fails once a stop was requested (the item says so) or the conversation's
        messages are being deleted (the item is gone). One write, no read."""
        from botocore.exceptions import ClientError

        try:
            self._client.update_item(
                TableName=self._table,
                Key=_message_key(user_id, conversation_id, reply),
                UpdateExpression="SET content = :c, seq = :s",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(stopRequested)",
                ExpressionAttributeValues={":c": {"S": reply.content}, ":s": {"N": str(seq)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = cast(dict[str, Any], err.response).get("Item") or {}
            return Checkpoint.STOP if "stopRequested" in old else Checkpoint.GONE
        return Checkpoint.CONTINUE

    def request_stop(self, user_id: str, conversation_id: str, *, stale_before: str) -> list[str]:
        from botocore.exceptions import ClientError

        item = self._item(conversation_pk(user_id, conversation_id), CONVERSATION_SK)
        if item is None or "deleted" in item:
            raise ConversationNotFound(conversation_id)
        stopped = []
        for sk in item.get("streamingReplies", {}).get("SS", []):
            timestamp, _, message_id = sk.removeprefix(MESSAGE_PREFIX).rpartition("#")
            if timestamp < stale_before:  # its invocation is long gone
                continue
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": conversation_pk(user_id, conversation_id)}, "sk": {"S": sk}},
                    UpdateExpression="SET stopRequested = :t",
                    ConditionExpression="#status = :streaming",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":t": {"BOOL": True},
                        ":streaming": {"S": MessageStatus.STREAMING.value},
                    },
                )
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                continue  # it finished meanwhile
            stopped.append(message_id)
        return stopped

    def finish_turn(
        self,
        user_id: str,
        conversation_id: str,
        question: Message,
        *,
        reply: Message | None,
        state: TurnState,
        started: Message | None = None,
    ) -> None:
        items: list[Any] = []
        settle: dict[str, Any] = {
            "TableName": self._table,
            "Key": _message_key(user_id, conversation_id, question),
            "UpdateExpression": "SET turn = :s",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":s": {"S": state.value}},
        }
        if reply is not None:
            put = self._put_message(user_id, conversation_id, reply)
            if started is not None:  # it replaces its streaming self
                put["Put"]["ConditionExpression"] = "attribute_exists(pk)"
            touch = self._touch(user_id, conversation_id, reply.timestamp, "")
            items += [put]
            settle["UpdateExpression"] += ", replySk = :r"
            settle["ExpressionAttributeValues"][":r"] = {"S": _message_sk(reply)}
        else:
            touch = {
                "TableName": self._table,
                "Key": _conversation_key(user_id, conversation_id),
                "UpdateExpression": "SET updatedAt = updatedAt",
            }
            if started is not None:  # nothing was written: the placeholder goes
                items.append(
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": _message_key(user_id, conversation_id, started),
                        }
                    }
                )
        touch["ConditionExpression"] = _LIVE
        if started is not None:
            touch["UpdateExpression"] += " DELETE streamingReplies :started"
            touch["ExpressionAttributeValues"] = {
                **touch.get("ExpressionAttributeValues", {}),
                ":started": {"SS": [_message_sk(started)]},
            }
        if reply is not None or started is not None:
            items.append({"Update": touch})
        items.append({"Update": settle})
        if self._transact(items, allowed_failures=True) is not None:
            raise ConversationNotFound(conversation_id)

    def _item(self, pk: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return item

    def _put_message(
        self,
        user_id: str,
        conversation_id: str,
        message: Message,
        *,
        turn: TurnState | None = None,
    ) -> dict[str, Any]:
        item = {"pk": {"S": conversation_pk(user_id, conversation_id)}, **_message_item(message)}
        if turn is not None:
            item["turn"] = {"S": turn.value}
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _transact(self, items: list[Any], *, allowed_failures: bool = False) -> list[str] | None:
        """Run a transaction, retrying transient conflicts with a concurrent one. With
        ``allowed_failures``, a cancellation by a condition returns each item's reason
        code (``"None"`` for the items that passed) instead of raising."""
        from botocore.exceptions import ClientError

        for delay in (*_CONFLICT_RETRIES, None):
            try:
                self._client.transact_write_items(TransactItems=items)
                return None
            except ClientError as err:
                if err.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [
                    r.get("Code", "None") for r in err.response.get("CancellationReasons", [])
                ]
                if "ConditionalCheckFailed" in reasons and allowed_failures:
                    return reasons
                if "TransactionConflict" not in reasons or delay is None:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _touch(self, user_id: str, conversation_id: str, now: str, title: str) -> dict[str, Any]:
        """Create the conversation on first use (titled ``title``) and move ``updatedAt``."""
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


def _message_sk(message: Message) -> str:
    return f"{MESSAGE_PREFIX}{message.timestamp}#{message.message_id}"


def _message_key(user_id: str, conversation_id: str, message: Message) -> dict[str, Any]:
    return {
        "pk": {"S": conversation_pk(user_id, conversation_id)},
        "sk": {"S": _message_sk(message)},
    }


def _conversation_key(user_id: str, conversation_id: str) -> dict[str, Any]:
    return {"pk": {"S": conversation_pk(user_id, conversation_id)}, "sk": {"S": CONVERSATION_SK}}


def _client_key(user_id: str, client_message_id: str) -> dict[str, Any]:
    return {"pk": {"S": user_key(user_id)}, "sk": {"S": CLIENT_PREFIX + client_message_id}}


def _message_item(message: Message) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sk": {"S": _message_sk(message)},
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
    if message.role is Role.ASSISTANT:
        item["status"] = {"S": message.status.value}
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
        status=_status(item),
    )


def _status(item: dict[str, Any]) -> MessageStatus:
    if "status" in item:
        return MessageStatus(item["status"]["S"])
    # Stored before statuses were: a reply kept after an error said so in finishReason.
    failed = item.get("finishReason", {}).get("S") == "error"
    return MessageStatus.ERROR if failed else MessageStatus.COMPLETE
