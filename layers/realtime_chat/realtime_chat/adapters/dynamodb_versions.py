"""A turn answered again in the chat table: regenerated (a new answer) or edited (a new
text, then a new answer), with what it replaced kept as earlier versions.

Earlier versions are items of the conversation's partition outside the ``MSG#``
range, so history never shows them and deleting the conversation removes them:

=================  ====================================================
item               sk
=================  ====================================================
earlier text       ``VER#{questionId}#text#{n:04d}`` (n from 1, oldest first)
earlier answer     ``VER#{questionId}#answer#{n:04d}``
=================  ====================================================

The user's message counts them (``earlierTexts``, ``earlierAnswers``); history shows
a message's ``versions`` as that count plus one (its current self).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from realtime_chat.adapters.dynamodb_items import (
    CLAIMED_UNTIL,
    CLIENT_ID_SECONDS,
    CONVERSATION_SK,
    LIVE,
    MESSAGE_PREFIX,
    client_key,
    conversation_pk,
    message_from,
    message_item,
    message_key,
    message_sk,
)
from realtime_chat.adapters.dynamodb_turns import CLAIM_EXPIRED, DynamoTurns
from realtime_chat.domain import Message, MessageStatus, Role, Turn, TurnState
from realtime_chat.errors import ConversationNotFound
from realtime_chat.ports import LastTurn, Revision

__all__ = [
    "CLIENT_ID_UNUSED",
    "LAST_QUESTION_AS_SEEN",
    "TURN_AS_SEEN",
    "VERSION_PREFIX",
    "DynamoVersions",
    "with_versions",
]

VERSION_PREFIX = "VER#"
EARLIER_TEXTS = "earlierTexts"
EARLIER_ANSWERS = "earlierAnswers"
_LOOK_BACK = 4  # newest messages read to find the last user message
# What the answered turn's reply (and any retry of it) left on the user's message.
_CLAIM_ATTRIBUTES = "replyOwner, claimedAt, claimedReplySk, retriedBy"

# The rules a revision keeps atomically, named (placeholders as bound below).
# The turn is answered or failed, or pending for longer than a reply may run (its
# reply died with its invocation), never pending with its reply still running; and
# its current answer is the one the revision saw: a second tab's regenerate, an edit
# or a retry that came first leaves nothing to do (each moves ``retriedAt`` to now).
TURN_AS_SEEN = (
    "(turn IN (:answered, :failed) OR (turn = :pending AND #ts < :stale AND "
    f"(attribute_not_exists(retriedAt) OR retriedAt < :stale) AND {CLAIM_EXPIRED})) "
    "AND (attribute_not_exists(replySk) OR replySk = :reply)"
)
# The question revised is still the conversation's newest: a message sent after the
# revision read the last turn (from another tab) leaves nothing to revise. Conversations
# last written before the conversation named its newest question carry no name.
LAST_QUESTION_AS_SEEN = "(attribute_not_exists(lastQuestion) OR lastQuestion = :lastq)"
# A clientMessageId is free, or claimed for this very send when it was charged.
CLIENT_ID_UNUSED = f"attribute_not_exists(pk) OR (sk2 = :sk2 AND attribute_exists({CLAIMED_UNTIL}))"


def version_sk(question_id: str, kind: str, n: int) -> str:
    return f"{VERSION_PREFIX}{question_id}#{kind}#{n:04d}"


def with_versions(newest_first: list[dict[str, Any]]) -> list[Message]:
    """Messages from history's items (newest first), each with its ``versions``: a user
    message's texts; an answer's, from the user message just before it."""
    messages = []
    for n, item in enumerate(newest_first):
        message = message_from(item)
        if message.role is Role.USER:
            earlier = int(item.get(EARLIER_TEXTS, {}).get("N", "0"))
        else:
            question = newest_first[n + 1] if n + 1 < len(newest_first) else {}
            asked = question.get("role", {}).get("S") == Role.USER.value
            earlier = int(question.get(EARLIER_ANSWERS, {}).get("N", "0")) if asked else 0
        if earlier:
            message = replace(message, versions=earlier + 1)
        messages.append(message)
    return messages


class DynamoVersions(DynamoTurns):
    def last_turn(self, user_id: str, conversation_id: str) -> LastTurn | None:
        pk = conversation_pk(user_id, conversation_id)
        items = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":msg": {"S": MESSAGE_PREFIX}},
            ScanIndexForward=False,
            Limit=_LOOK_BACK,
            ConsistentRead=True,
        ).get("Items", [])
        at = next((n for n, i in enumerate(items) if i["role"]["S"] == Role.USER.value), None)
        if at is None:
            return None
        messages = with_versions(items[: at + 2])
        question, item = messages[at], items[at]
        reply_sk = item.get("replySk", {}).get("S")
        # Its stored answer; else the answer just after it (a reply that died streaming).
        newer = items[at - 1]["sk"]["S"] if at > 0 else None
        answer_sk = reply_sk or newer
        reply = next(
            (m for m, i in zip(messages, items, strict=False) if i["sk"]["S"] == answer_sk), None
        )
        state = TurnState(item.get("turn", {}).get("S", TurnState.ANSWERED.value))
        return LastTurn(
            Turn(conversation_id, question, state, reply),
            earlier_texts=int(item.get(EARLIER_TEXTS, {}).get("N", "0")),
            earlier_answers=int(item.get(EARLIER_ANSWERS, {}).get("N", "0")),
        )

    def revise_turn(
        self,
        user_id: str,
        conversation_id: str,
        last: LastTurn,
        answer: Message,
        *,
        client_message_id: str | None,
        now: str,
        stale_before: str,
        text: str | None = None,
        model: str | None = None,
    ) -> Revision:
        """One transaction: the client id (when given), the user's message, the earlier
        versions, the old answer gone, the new streaming answer and the conversation."""
        question, current = last.turn.message, last.turn.reply
        pk = conversation_pk(user_id, conversation_id)
        items: list[Any] = []
        if client_message_id is not None:
            items.append(
                self._client_id(user_id, client_message_id, conversation_id, question, now)
            )
        values: dict[str, Any] = {
            ":pending": {"S": TurnState.PENDING.value},
            ":answered": {"S": TurnState.ANSWERED.value},
            ":failed": {"S": TurnState.FAILED.value},
            ":stale": {"S": stale_before},
            ":now": {"S": now},
            ":reply": {"S": message_sk(current) if current else ""},
        }
        update = "SET turn = :pending, retriedAt = :now"
        if current is not None:
            values[":answers"] = {"N": str(last.earlier_answers + 1)}
            update += f", {EARLIER_ANSWERS} = :answers"
        if text is not None:
            values[":text"] = {"S": text}
            values[":texts"] = {"N": str(last.earlier_texts + 1)}
            update += f", content = :text, {EARLIER_TEXTS} = :texts"
        question_at = len(items)
        items.append(
            {
                "Update": {
                    "TableName": self._table,
                    "Key": message_key(user_id, conversation_id, question),
                    # The new answer's job claims the turn afresh.
                    "UpdateExpression": f"{update} REMOVE replySk, {_CLAIM_ATTRIBUTES}",
                    "ConditionExpression": f"attribute_exists(pk) AND {TURN_AS_SEEN}",
                    "ExpressionAttributeNames": {"#ts": "timestamp"},
                    "ExpressionAttributeValues": values,
                }
            }
        )
        if current is not None:
            n = last.earlier_answers + 1
            items.append(
                self._put_version(pk, current, version_sk(question.message_id, "answer", n))
            )
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": message_key(user_id, conversation_id, current),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            )
        if text is not None:
            n = last.earlier_texts + 1
            items.append(
                self._put_version(pk, question, version_sk(question.message_id, "text", n))
            )
        items.append(self._put_message(user_id, conversation_id, answer))
        touch = self._touch(user_id, conversation_id, answer.timestamp, "")
        touch["ConditionExpression"] = f"{LIVE} AND {LAST_QUESTION_AS_SEEN}"
        touch["UpdateExpression"] += " ADD streamingReplies :sk"
        touch["ExpressionAttributeValues"][":sk"] = {"SS": [message_sk(answer)]}
        touch["ExpressionAttributeValues"][":lastq"] = {"S": message_sk(question)}
        if model is not None:
            touch["UpdateExpression"] = touch["UpdateExpression"].replace(
                " ADD ", ", model = :model ADD "
            )
            touch["ExpressionAttributeValues"][":model"] = {"S": model}
        items.append({"Update": touch})
        reasons = self._transact(items)
        if reasons is None:
            return Revision.DONE
        if client_message_id is not None and reasons[0] == "ConditionalCheckFailed":
            return Revision.DUPLICATE
        if reasons[-1] == "ConditionalCheckFailed":
            conversation = self._item(pk, CONVERSATION_SK)
            if conversation is None or "deleted" in conversation:
                raise ConversationNotFound(conversation_id)
            return Revision.CHANGED  # a newer question came in from another tab
        if "ConditionalCheckFailed" in reasons[question_at:]:
            return Revision.CHANGED
        raise RuntimeError(f"revising the turn was cancelled: {reasons}")

    def versions(
        self, user_id: str, conversation_id: str, message_id: str
    ) -> tuple[list[Message], list[Message]]:
        prefix = f"{VERSION_PREFIX}{message_id}#"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :v)",
            "ExpressionAttributeValues": {
                ":pk": {"S": conversation_pk(user_id, conversation_id)},
                ":v": {"S": prefix},
            },
        }
        texts: list[Message] = []
        answers: list[Message] = []
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                kind = item["sk"]["S"].removeprefix(prefix).partition("#")[0]
                (texts if kind == "text" else answers).append(message_from(item))
            if "LastEvaluatedKey" not in page:
                return texts, answers
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _client_id(
        self,
        user_id: str,
        client_message_id: str,
        conversation_id: str,
        question: Message,
        now: str,
    ) -> dict[str, Any]:
        """The clientMessageId's item, pointing at the turn it revised (so a retry finds
        that turn), as :meth:`DynamoTurns.begin_turn` stores it."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **client_key(user_id, client_message_id),
                    "conversationId": {"S": conversation_id},
                    "sk2": {"S": message_sk(question)},
                    # Remembered from now, by the caller's clock (as begin_turn does).
                    "ttl": {
                        "N": str(int(datetime.fromisoformat(now).timestamp()) + CLIENT_ID_SECONDS)
                    },
                },
                "ConditionExpression": CLIENT_ID_UNUSED,
                "ExpressionAttributeValues": {":sk2": {"S": message_sk(question)}},
            }
        }

    def _put_version(self, pk: str, message: Message, sk: str) -> dict[str, Any]:
        if message.status is MessageStatus.STREAMING:  # its reply died: kept as it broke off
            message = replace(message, status=MessageStatus.ERROR)
        item = {**message_item(message), "pk": {"S": pk}, "sk": {"S": sk}}
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
