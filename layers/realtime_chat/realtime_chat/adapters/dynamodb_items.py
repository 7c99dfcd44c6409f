"""The chat table's item shapes: the key scheme, how domain values become items and
back, and transactions that ride out a conflict with another one. Shared by the
conversation store and the turns it keeps (see :mod:`.dynamodb_chat`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from realtime_chat.domain import Conversation, Message, MessageStatus, Role
from realtime_chat.titles import clean_title

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

UPDATED_INDEX = "byUpdated"
CONVERSATION_SK = "CONV"
MESSAGE_PREFIX = "MSG#"
CLIENT_PREFIX = "CLIENT#"
BATCH = 25  # BatchWriteItem's limit
CLIENT_ID_SECONDS = 7 * 24 * 3600  # how long a clientMessageId is remembered
# On a client id item taken by a message being accepted, before its turn is stored:
# until when (epoch ms) the claim holds. Storing the turn removes it.
CLAIMED_UNTIL = "claimedUntil"
LIVE = "attribute_exists(pk) AND attribute_not_exists(deleted)"
CONFLICT_RETRIES = (0.02, 0.05, 0.1)  # seconds; TransactionConflict is transient


def conversation_pk(user_id: str, conversation_id: str) -> str:
    return f"USER#{user_id}#CONV#{conversation_id}"


def user_key(user_id: str) -> str:
    return f"USER#{user_id}"


def transact(
    client: DynamoDBClient, items: list[Any], *, allowed_failures: bool = False
) -> list[str] | None:
    """Run a transaction, retrying transient conflicts with a concurrent one. With
    ``allowed_failures``, a cancellation by a condition returns each item's reason
    code (``"None"`` for the items that passed) instead of raising."""
    from botocore.exceptions import ClientError

    for delay in (*CONFLICT_RETRIES, None):
        try:
            client.transact_write_items(TransactItems=items)
            return None
        except ClientError as err:
            if err.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in err.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons and allowed_failures:
                return reasons
            if "TransactionConflict" not in reasons or delay is None:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


def conversation_from(item: dict[str, Any]) -> Conversation:
    return Conversation(
        conversation_id=item["conversationId"]["S"],
        title=clean_title(item.get("title", {}).get("S", "")),  # stored before titles were
        created_at=item["createdAt"]["S"],
        updated_at=item["updatedAt"]["S"],
        model=item.get("model", {}).get("S"),
    )


def message_sk(message: Message) -> str:
    return f"{MESSAGE_PREFIX}{message.timestamp}#{message.message_id}"


def message_key(user_id: str, conversation_id: str, message: Message) -> dict[str, Any]:
    return {
        "pk": {"S": conversation_pk(user_id, conversation_id)},
        "sk": {"S": message_sk(message)},
    }


def conversation_key(user_id: str, conversation_id: str) -> dict[str, Any]:
    return {"pk": {"S": conversation_pk(user_id, conversation_id)}, "sk": {"S": CONVERSATION_SK}}


def client_key(user_id: str, client_message_id: str) -> dict[str, Any]:
    return {"pk": {"S": user_key(user_id)}, "sk": {"S": CLIENT_PREFIX + client_message_id}}


def message_item(message: Message) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sk": {"S": message_sk(message)},
        "messageId": {"S": message.message_id},
        "role": {"S": message.role.value},
        "content": {"S": message.content},
        "timestamp": {"S": message.timestamp},
    }
    if message.model:
        item["model"] = {"S": message.model}
    if message.provider:
        item["provider"] = {"S": message.provider}
    if message.finish_reason:
        item["finishReason"] = {"S": message.finish_reason}
    if message.usage:
        item["usage"] = {"M": {k: {"N": str(v)} for k, v in message.usage.items()}}
    if message.role is Role.ASSISTANT:
        item["status"] = {"S": message.status.value}
    return item


def message_from(item: dict[str, Any]) -> Message:
    usage = {k: int(v["N"]) for k, v in item.get("usage", {}).get("M", {}).items()}
    return Message(
        message_id=item["messageId"]["S"],
        role=Role(item["role"]["S"]),
        content=item["content"]["S"],
        timestamp=item["timestamp"]["S"],
        model=item.get("model", {}).get("S"),
        provider=item.get("provider", {}).get("S"),
        finish_reason=item.get("finishReason", {}).get("S"),
        usage=usage,
        status=status_of(item),
        started_at=item.get("claimedAt", {}).get("S"),
    )


def status_of(item: dict[str, Any]) -> MessageStatus:
    if "status" in item:
        return MessageStatus(item["status"]["S"])
    # Stored before statuses were: a reply kept after an error said so in finishReason.
    failed = item.get("finishReason", {}).get("S") == "error"
    return MessageStatus.ERROR if failed else MessageStatus.COMPLETE
