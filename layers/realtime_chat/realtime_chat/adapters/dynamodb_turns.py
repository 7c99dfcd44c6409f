"""Turns and streaming replies in the chat table: a user's message as a turn (pending,
answered, failed), found again by its ``clientMessageId``; a reply stored as it streams,
checkpointed, stopped on request. The base of :class:`.dynamodb_chat.DynamoChatStore`,
which adds conversations and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from realtime_chat.adapters.dynamodb_items import (
    CLAIMED_UNTIL,
    CLIENT_ID_SECONDS,
    CONVERSATION_SK,
    LIVE,
    MESSAGE_PREFIX,
    client_key,
    conversation_key,
    conversation_pk,
    message_from,
    message_item,
    message_key,
    message_sk,
    transact,
    user_key,
)
from realtime_chat.domain import (
    Attempt,
    Checkpoint,
    Claim,
    Message,
    MessageStatus,
    Role,
    Settled,
    Turn,
    TurnState,
)
from realtime_chat.errors import ConversationNotFound, TurnConversationDeleted

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["MOVES_FORWARD", "DynamoTurns"]

# A conversation's last activity, and its place in the list, never go back in time:
# a reply that ends after a newer turn began leaves them at that turn.
MOVES_FORWARD = "(attribute_not_exists(updatedAt) OR updatedAt <= :now)"
_OVERTAKEN_ATTEMPTS = 3  # each lost one means yet newer activity was recorded: bounded

# The rules a reply's writes keep atomically, named (placeholders as bound below).
# A turn is claimed by one attempt, while it is pending and nobody holds it.
UNCLAIMED_PENDING_TURN = "turn = :pending AND attribute_not_exists(replyOwner)"
# Only the attempt that claimed a turn finishes it.
OWNED_BY_ATTEMPT = "attribute_exists(pk) AND replyOwner = :attempt"
# A reply that could not start fails its turn only while nobody else answers it: the
# turn is pending and unclaimed, or claimed by this very attempt.
NOT_ANSWERED_BY_ANOTHER = (
    "attribute_exists(pk) AND turn = :pending AND "
    "(attribute_not_exists(replyOwner) OR replyOwner = :attempt)"
)
# A reply that ends (normally, or broken by the provider) is stored only while no
# stop was requested: a stop acknowledged before the finishing write wins.
NO_STOP_REQUESTED = "attribute_exists(pk) AND attribute_not_exists(stopRequested)"
# A retry may take a pending turn over only once its claim (if any) is older than a
# reply may run: the claiming invocation has ended.
CLAIM_EXPIRED = "(attribute_not_exists(claimedAt) OR claimedAt < :stale)"
# A streaming reply checkpoints only while no retry took its turn over (the retry
# marks the reply it displaced ``superseded``).
NOT_SUPERSEDED = "attribute_not_exists(superseded)"
# A streaming reply may still be running: its job claimed the turn (``claimedAt``,
# stamped on the reply by ``claim_turn``) or, not claimed yet, the turn was
# acknowledged (``timestamp``) less than a reply may run ago. An older one died with
# its invocation: a stop is not recorded on it.
MAY_STILL_RUN = "(claimedAt >= :stale OR (attribute_not_exists(claimedAt) AND #ts >= :stale))"


class DynamoTurns:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def begin_turn(
        self,
        user_id: str,
        conversation_id: str,
        message: Message,
        *,
        title: str,
        client_message_id: str | None,
        reply: Message | None = None,
        model: str | None = None,
    ) -> Turn:
        """One transaction: the client id (when given), the message, the conversation
        (with the ``model`` it uses from now on, when given), and the streaming answer
        (when given) noted on it, as ``start_reply`` does. The client id is remembered
        for ``CLIENT_ID_SECONDS`` from the message's timestamp: the caller's clock, not
        this machine's."""
        items: list[Any] = []
        if client_message_id is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **client_key(user_id, client_message_id),
                            "conversationId": {"S": conversation_id},
                            "sk2": {"S": message_sk(message)},
                            "ttl": {"N": str(_epoch(message.timestamp) + CLIENT_ID_SECONDS)},
                        },
                        # Free, or claimed for this very message when it was charged.
                        "ConditionExpression": "attribute_not_exists(pk) OR sk2 = :sk2",
                        "ExpressionAttributeValues": {":sk2": {"S": message_sk(message)}},
                    }
                }
            )
        touch = self._touch(user_id, conversation_id, message.timestamp, title)
        touch["ConditionExpression"] = "attribute_not_exists(deleted)"
        # The conversation names its newest question: a regenerate or an edit applies
        # only to it (``LAST_QUESTION_AS_SEEN`` in dynamodb_versions).
        touch["UpdateExpression"] += ", lastQuestion = :lastq"
        touch["ExpressionAttributeValues"][":lastq"] = {"S": message_sk(message)}
        if model is not None:
            touch["UpdateExpression"] += ", model = :model"
            touch["ExpressionAttributeValues"][":model"] = {"S": model}
        items += [
            self._put_message(user_id, conversation_id, message, turn=TurnState.PENDING),
            {"Update": touch},
        ]
        conversation = len(items) - 1  # whose condition says "being deleted"
        if reply is not None:
            touch["UpdateExpression"] += " ADD streamingReplies :sk"
            touch["ExpressionAttributeValues"][":sk"] = {"SS": [message_sk(reply)]}
            items.append(self._put_message(user_id, conversation_id, reply))
        reasons = self._transact(items)
        if reasons is None:
            return Turn(conversation_id, message, TurnState.PENDING)
        if client_message_id is not None and reasons[0] == "ConditionalCheckFailed":
            first = self.find_turn(user_id, client_message_id)
            if first is None:  # its conversation was deleted since
                raise ConversationNotFound(conversation_id)
            return first
        if reasons[conversation] == "ConditionalCheckFailed":
            raise ConversationNotFound(conversation_id)
        raise RuntimeError(f"storing the message was cancelled: {reasons}")

    def find_turn(self, user_id: str, client_message_id: str) -> Turn | None:
        marker = self._client.get_item(
            TableName=self._table, Key=client_key(user_id, client_message_id), ConsistentRead=True
        ).get("Item")
        if marker is None:
            return None
        conversation_id = marker["conversationId"]["S"]
        pk = conversation_pk(user_id, conversation_id)
        item = self._item(pk, marker["sk2"]["S"])
        if item is None and CLAIMED_UNTIL in marker:  # being stored by the send that took it
            timestamp, _, message_id = (
                marker["sk2"]["S"].removeprefix(MESSAGE_PREFIX).rpartition("#")
            )
            question = Message(message_id, Role.USER, "", timestamp)
            return Turn(conversation_id, question, TurnState.PENDING, duplicate=True)
        if item is None:
            raise TurnConversationDeleted(conversation_id)
        question = message_from(item)
        state = TurnState(item.get("turn", {}).get("S", TurnState.PENDING.value))
        reply_sk = item.get("replySk", {}).get("S")
        reply_item = self._item(pk, reply_sk) if reply_sk else None
        reply = message_from(reply_item) if reply_item else None
        return Turn(conversation_id, question, state, reply, duplicate=True)

    def retry_turn(
        self,
        user_id: str,
        conversation_id: str,
        message: Message,
        *,
        now: str,
        stale_before: str,
        reply: Message | None = None,
    ) -> bool:
        """One transaction: the turn back to pending and, when given, the retry's
        streaming answer noted on the conversation (as ``begin_turn`` stores a new
        turn's), so that a stop finds it before the retry's job has started."""
        pk = conversation_pk(user_id, conversation_id)
        # What the retry displaces: a claim that outlived its invocation, told below.
        before = self._item(pk, message_sk(message)) or {}
        retry = uuid.uuid4().hex  # this call's own: tells its write, sent again, from others'
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": message_key(user_id, conversation_id, message),
                    # The retry's job claims the turn afresh.
                    "UpdateExpression": (
                        "SET turn = :pending, retriedAt = :now, retriedBy = :retry "
                        "REMOVE replyOwner, claimedAt, claimedReplySk"
                    ),
                    # Failed, or pending for longer than a reply may run: its reply died
                    # with its invocation (a timeout, out of memory).
                    "ConditionExpression": (
                        "turn = :failed OR (turn = :pending AND #ts < :stale AND "
                        "(attribute_not_exists(retriedAt) OR retriedAt < :stale) AND "
                        f"{CLAIM_EXPIRED})"
                    ),
                    "ExpressionAttributeNames": {"#ts": "timestamp"},
                    "ExpressionAttributeValues": {
                        ":pending": {"S": TurnState.PENDING.value},
                        ":failed": {"S": TurnState.FAILED.value},
                        ":stale": {"S": stale_before},
                        ":now": {"S": now},
                        ":retry": {"S": retry},
                    },
                }
            }
        ]
        if reply is not None:
            items += [
                self._put_message(user_id, conversation_id, reply),
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": conversation_key(user_id, conversation_id),
                        "UpdateExpression": "ADD streamingReplies :sk",
                        "ConditionExpression": LIVE,
                        "ExpressionAttributeValues": {":sk": {"SS": [message_sk(reply)]}},
                    }
                },
            ]
        if transact(self._client, items, allowed_failures=True) is not None:
            # Our own transaction, applied, then sent again by botocore's retry (its
            # answer was lost): the turn carries this call's own id, which no other has.
            current = self._item(pk, message_sk(message)) or {}
            return bool(current.get("retriedBy", {}).get("S") == retry)
        displaced = before.get("claimedReplySk", {}).get("S")
        if displaced and before.get("turn", {}).get("S") == TurnState.PENDING.value:
            self._supersede(pk, displaced)
        return True

    def _supersede(self, pk: str, reply_sk: str) -> None:
        """Tell a displaced attempt's reply, at its next checkpoint, that it lost its turn."""
        from botocore.exceptions import ClientError

        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": reply_sk}},
                UpdateExpression="SET superseded = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def claim_turn(
        self, user_id: str, conversation_id: str, attempt: Attempt, *, now: str
    ) -> Claim:
        """Make ``attempt`` the one that answers its pending turn (one conditional
        write); say why not otherwise."""
        from botocore.exceptions import ClientError

        values = {
            ":attempt": {"S": attempt.attempt_id},
            ":now": {"S": now},
            ":pending": {"S": TurnState.PENDING.value},
        }
        update = "SET replyOwner = :attempt, claimedAt = :now"
        if attempt.reply is not None:  # so that a retry taking over can tell it
            update += ", claimedReplySk = :reply"
            values[":reply"] = {"S": message_sk(attempt.reply)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=message_key(user_id, conversation_id, attempt.question),
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(pk) AND {UNCLAIMED_PENDING_TURN}",
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = cast(dict[str, Any], err.response).get("Item")
            if not old:
                return Claim.GONE
            if old.get("turn", {}).get("S", TurnState.PENDING.value) != TurnState.PENDING.value:
                return Claim.ANSWERED
            if old.get("replyOwner", {}).get("S") == attempt.attempt_id:
                # Our own write, applied, then sent again by botocore's retry (its answer
                # was lost): attempt ids are new for every run, so nobody else has it.
                self._stamp_claim(user_id, conversation_id, attempt, now)
                return Claim.OWNED
            return Claim.TAKEN
        self._stamp_claim(user_id, conversation_id, attempt, now)
        return Claim.OWNED

    def _stamp_claim(self, user_id: str, conversation_id: str, attempt: Attempt, now: str) -> None:
        """Note the claim's time on the streaming reply too: its run counts from there
        (see ``MAY_STILL_RUN``), also for a stop or a history read."""
        from botocore.exceptions import ClientError

        if attempt.reply is None:
            return
        try:
            self._client.update_item(
                TableName=self._table,
                Key=message_key(user_id, conversation_id, attempt.reply),
                UpdateExpression="SET claimedAt = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": {"S": now}},
            )
        except ClientError as err:  # not stored yet (``start_reply`` comes next), or gone
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def fail_unstarted(self, user_id: str, conversation_id: str, attempt: Attempt) -> bool:
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": message_key(user_id, conversation_id, attempt.question),
                    "UpdateExpression": "SET turn = :failed",
                    "ConditionExpression": NOT_ANSWERED_BY_ANOTHER,
                    "ExpressionAttributeValues": {
                        ":failed": {"S": TurnState.FAILED.value},
                        ":pending": {"S": TurnState.PENDING.value},
                        ":attempt": {"S": attempt.attempt_id},
                    },
                }
            }
        ]
        if attempt.reply is not None:  # its empty answer goes, as a failed turn's does
            items += [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": message_key(user_id, conversation_id, attempt.reply),
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": conversation_key(user_id, conversation_id),
                        "UpdateExpression": "DELETE streamingReplies :sk",
                        "ConditionExpression": LIVE,
                        "ExpressionAttributeValues": {":sk": {"SS": [message_sk(attempt.reply)]}},
                    }
                },
            ]
        return transact(self._client, items, allowed_failures=True) is None

    def start_reply(self, user_id: str, conversation_id: str, reply: Message) -> None:
        """The reply as a ``streaming`` message, noted on the conversation (so a stop can
        find it), only while the conversation is live."""
        touch: dict[str, Any] = {
            "TableName": self._table,
            "Key": conversation_key(user_id, conversation_id),
            "UpdateExpression": "ADD streamingReplies :sk",
            "ConditionExpression": LIVE,
            "ExpressionAttributeValues": {":sk": {"SS": [message_sk(reply)]}},
        }
        items = [self._put_message(user_id, conversation_id, reply), {"Update": touch}]
        if transact(self._client, items, allowed_failures=True) is not None:
            raise ConversationNotFound(conversation_id)

    def checkpoint(
        self, user_id: str, conversation_id: str, reply: Message, *, seq: int
    ) -> Checkpoint:
        """Store the reply's text so far; the write itself says whether to go on: it
        fails once a stop was requested (the item says so), a retry took the turn
        over (the item is ``superseded``) or the conversation's messages are being
        deleted (the item is gone). One write, no read."""
        from botocore.exceptions import ClientError

        try:
            self._client.update_item(
                TableName=self._table,
                Key=message_key(user_id, conversation_id, reply),
                UpdateExpression="SET content = :c, seq = :s",
                ConditionExpression=f"{NO_STOP_REQUESTED} AND {NOT_SUPERSEDED}",
                ExpressionAttributeValues={":c": {"S": reply.content}, ":s": {"N": str(seq)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = cast(dict[str, Any], err.response).get("Item") or {}
            if "superseded" in old:
                return Checkpoint.LOST
            return Checkpoint.STOP if "stopRequested" in old else Checkpoint.GONE
        return Checkpoint.CONTINUE

    def reply_ended(self, user_id: str, conversation_id: str, reply: Message) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.update_item(
                TableName=self._table,
                Key=conversation_key(user_id, conversation_id),
                UpdateExpression="DELETE streamingReplies :sk",
                ConditionExpression="attribute_exists(pk)",  # never brings it back
                ExpressionAttributeValues={":sk": {"SS": [message_sk(reply)]}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def request_stop(self, user_id: str, conversation_id: str, *, stale_before: str) -> list[str]:
        from botocore.exceptions import ClientError

        item = self._item(conversation_pk(user_id, conversation_id), CONVERSATION_SK)
        if item is None or "deleted" in item:
            raise ConversationNotFound(conversation_id)
        stopped = []
        for sk in item.get("streamingReplies", {}).get("SS", []):
            _, _, message_id = sk.removeprefix(MESSAGE_PREFIX).rpartition("#")
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": conversation_pk(user_id, conversation_id)}, "sk": {"S": sk}},
                    UpdateExpression="SET stopRequested = :t",
                    ConditionExpression=f"#status = :streaming AND {MAY_STILL_RUN}",
                    ExpressionAttributeNames={"#status": "status", "#ts": "timestamp"},
                    ExpressionAttributeValues={
                        ":t": {"BOOL": True},
                        ":streaming": {"S": MessageStatus.STREAMING.value},
                        ":stale": {"S": stale_before},
                    },
                )
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                continue  # it finished meanwhile, or died with its invocation
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
        attempt: Attempt | None = None,
        stop_wins: bool = False,
    ) -> Settled:
        """One transaction; with ``attempt``, only while it owns the turn; with
        ``stop_wins``, only while no stop was requested of ``started``."""
        items: list[Any] = []
        settle: dict[str, Any] = {
            "TableName": self._table,
            "Key": message_key(user_id, conversation_id, question),
            "UpdateExpression": "SET turn = :s",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":s": {"S": state.value}},
        }
        if attempt is not None:
            settle["ConditionExpression"] = OWNED_BY_ATTEMPT
            settle["ExpressionAttributeValues"][":attempt"] = {"S": attempt.attempt_id}
        if reply is not None:
            put = self._put_message(user_id, conversation_id, reply)
            if started is not None:  # it replaces its streaming self
                put["Put"]["ConditionExpression"] = (
                    NO_STOP_REQUESTED if stop_wins else "attribute_exists(pk)"
                )
            touch = self._touch(user_id, conversation_id, reply.timestamp, "")
            items += [put]
            settle["UpdateExpression"] += ", replySk = :r"
            settle["ExpressionAttributeValues"][":r"] = {"S": message_sk(reply)}
        else:
            touch = {
                "TableName": self._table,
                "Key": conversation_key(user_id, conversation_id),
                "UpdateExpression": "SET updatedAt = updatedAt",
            }
            if started is not None:  # nothing was written: the placeholder goes
                delete: dict[str, Any] = {
                    "TableName": self._table,
                    "Key": message_key(user_id, conversation_id, started),
                }
                if stop_wins:
                    delete["ConditionExpression"] = NO_STOP_REQUESTED
                items.append({"Delete": delete})
        touch["ConditionExpression"] = LIVE
        if started is not None:
            touch["UpdateExpression"] += " DELETE streamingReplies :started"
            touch["ExpressionAttributeValues"] = {
                **touch.get("ExpressionAttributeValues", {}),
                ":started": {"SS": [message_sk(started)]},
            }
        if reply is not None or started is not None:
            items.append({"Update": touch})
        items.append({"Update": settle})
        reasons = self._transact(items)
        if reasons is None:
            return Settled.WRITTEN
        pk = conversation_pk(user_id, conversation_id)
        if "ConditionalCheckFailed" in reasons[:-1]:  # the reply or the conversation
            if started is not None and stop_wins:
                old = self._item(pk, message_sk(started))
                if old is not None and "stopRequested" in old:
                    return Settled.STOP_REQUESTED
            raise ConversationNotFound(conversation_id)
        # The turn: deleted with its conversation, or owned by another attempt.
        if self._item(pk, message_sk(question)) is None:
            raise ConversationNotFound(conversation_id)
        return Settled.LOST

    def _transact(self, items: list[Any]) -> list[str] | None:
        """``transact`` (a condition's failure returns the reasons) where the
        conversation's ``updatedAt``, and so its place in the list, only moves forward:
        a touch of :meth:`_touch` among ``items`` also asks that no later activity be
        recorded. When one is (a newer turn began while this reply streamed), the same
        items go again with ``updatedAt`` left where it is."""
        at = next((n for n, i in enumerate(items) if _touches(i)), None)
        if at is None:
            return transact(self._client, items, allowed_failures=True)
        touch = items[at]["Update"]
        if "ConditionExpression" in touch:
            touch["ConditionExpression"] = f"({touch['ConditionExpression']}) AND {MOVES_FORWARD}"
        else:
            touch["ConditionExpression"] = MOVES_FORWARD
        values = touch["ExpressionAttributeValues"]
        for _ in range(_OVERTAKEN_ATTEMPTS):
            reasons = transact(self._client, items, allowed_failures=True)
            if reasons is None or reasons[at] != "ConditionalCheckFailed":
                return reasons
            current = self._client.get_item(
                TableName=self._table, Key=touch["Key"], ConsistentRead=True
            ).get("Item")
            later = (current or {}).get("updatedAt", {}).get("S", "")
            if current is None or "deleted" in current or later <= values[":now"]["S"]:
                return reasons  # not overtaken: gone, or refused for another reason
            values[":now"] = {"S": later}
            values[":order"] = {"S": f"{later}#{values[':c']['S']}"}
        return reasons

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
        item = {"pk": {"S": conversation_pk(user_id, conversation_id)}, **message_item(message)}
        if turn is not None:
            item["turn"] = {"S": turn.value}
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

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


def _touches(item: dict[str, Any]) -> bool:
    """An update of :meth:`DynamoTurns._touch`: it moves ``updatedAt`` to ``:now``."""
    return "updatedAt = :now" in item.get("Update", {}).get("UpdateExpression", "")


def _epoch(timestamp: str) -> int:
    """Whole seconds since the epoch of an ISO 8601 timestamp (``frames.iso``'s)."""
    return int(datetime.fromisoformat(timestamp).timestamp())
