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
carries. It expires after :data:`CLIENT_ID_SECONDS` (the table's TTL). When a limit
is set, the rate limiter writes it first, in the write that charges the message,
marked ``claimedUntil`` (see :mod:`.dynamodb_rate_limit`); storing the turn replaces
the claim. A user's message carries its turn's state (``turn``: pending, answered,
failed) and, once answered, the sort key of the reply.

A conversation's ``updatedAt`` (and ``gsi1sk``, the list's order) only moves
forward: every write that moves it carries the named condition ``MOVES_FORWARD``.

Deleting a conversation first marks it ``deleted`` (out of the list at once), then
removes its messages, then (``forget``, once its streaming replies said they ended)
the conversation item: every write of a reply is conditional on the conversation
existing unmarked, so a reply still streaming when the user deletes the conversation
cannot bring it back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from realtime_chat.adapters.dynamodb_items import (
    BATCH,
    CONVERSATION_SK,
    LIVE,
    MESSAGE_PREFIX,
    UPDATED_INDEX,
    conversation_from,
    conversation_key,
    conversation_pk,
    user_key,
)
from realtime_chat.adapters.dynamodb_versions import DynamoVersions, with_versions
from realtime_chat.domain import Conversation, Message, Page
from realtime_chat.errors import ConversationNotFound

if TYPE_CHECKING:
    pass

__all__ = ["UPDATED_INDEX", "DynamoChatStore"]


class DynamoChatStore(DynamoVersions):
    """Conversations and their messages; turns and streaming replies come from
    :class:`.DynamoTurns`, turns answered again (regenerated, edited) from
    :class:`.DynamoVersions`."""

    def conversation(self, user_id: str, conversation_id: str) -> Conversation | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={
                "pk": {"S": conversation_pk(user_id, conversation_id)},
                "sk": {"S": CONVERSATION_SK},
            },
        ).get("Item")
        return conversation_from(item) if item and "deleted" not in item else None

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
        # Each message with its versions (an answer's are counted on the user message
        # before it, which the extra item fetched brings even at the page's edge).
        newest_first = with_versions(
            [item for item in items if item["sk"]["S"] != MESSAGE_PREFIX + (before or "")]
        )
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
        items = tuple(conversation_from(i) for i in page.get("Items", []))
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
                ConditionExpression=LIVE,
                ExpressionAttributeValues={":t": {"S": title}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConversationNotFound(conversation_id) from None
            raise
        return conversation_from(item)

    def delete(self, user_id: str, conversation_id: str, *, stale_before: str = "") -> list[str]:
        """See :meth:`.ports.ChatStore.delete`; with no reply sending, the conversation
        item goes too (``forget`` is then a no-op)."""
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
        sending: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "pk, sk, messageId, claimedAt, #status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                if item["sk"]["S"] == CONVERSATION_SK:
                    continue  # the conversation item goes last (``forget``)
                keys.append({"pk": item["pk"], "sk": item["sk"]})
                claimed = item.get("claimedAt", {}).get("S", "")
                if item.get("status", {}).get("S") == "streaming" and claimed >= stale_before:
                    sending.append(item["messageId"]["S"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        # Messages first, the conversation item last (``forget``): an interrupted delete
        # leaves the marked conversation (and deletable again), never orphaned messages.
        for start in range(0, len(keys), BATCH):
            self._delete_batch(keys[start : start + BATCH])
        if not sending:
            self.forget(user_id, conversation_id)
        return sending

    def replies_sending(self, user_id: str, conversation_id: str) -> list[str]:
        item = self._client.get_item(
            TableName=self._table,
            Key=conversation_key(user_id, conversation_id),
            ProjectionExpression="streamingReplies",
            ConsistentRead=True,
        ).get("Item", {})
        return [sk.rpartition("#")[2] for sk in item.get("streamingReplies", {}).get("SS", [])]

    def forget(self, user_id: str, conversation_id: str) -> None:
        self._client.delete_item(
            TableName=self._table, Key=conversation_key(user_id, conversation_id)
        )

    def add_message(
        self, user_id: str, conversation_id: str, message: Message, *, title: str
    ) -> None:
        """Store a message outside any turn (seeding, imports): no use case needs it."""
        reasons = self._transact(
            [
                self._put_message(user_id, conversation_id, message),
                {"Update": self._touch(user_id, conversation_id, message.timestamp, title)},
            ]
        )
        if reasons is not None:
            raise RuntimeError(f"storing the message was cancelled: {reasons}")

    def _delete_batch(self, keys: list[dict[str, Any]]) -> None:

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
