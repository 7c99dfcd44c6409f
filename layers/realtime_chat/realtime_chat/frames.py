"""Protocol v1, server side: the JSON objects sent to clients, each with a ``type``.

Domain values go in, camelCase wire dictionaries come out; nothing else in the
library spells a wire field name for outgoing frames.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from realtime_chat.domain import Connection, Conversation, Identity, Message, Page, Turn
from realtime_chat.errors import ChatError
from realtime_chat.model_options import ModelOption
from realtime_chat.settings import ChatSettings

__all__ = [
    "MAX_POST_BYTES",
    "Frame",
    "ai_response",
    "ai_response_chunk",
    "ai_response_snapshot",
    "chat_history",
    "conversation_deleted",
    "conversation_renamed",
    "conversations",
    "debug_status",
    "error",
    "fit_content",
    "iso",
    "message_received",
    "message_versions",
    "models",
    "notifications_subscribed",
    "pong",
    "presence",
    "reply_error",
    "reply_stop_requested",
    "size",
    "text",
]

Frame = dict[str, Any]

# ``@connections`` accepts at most 128 KB per post (413 above); keep headroom.
MAX_POST_BYTES = 120 * 1024


def text(frame: Frame) -> str:
    """The frame as the client receives it: compact JSON."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def size(frame: Frame) -> int:
    """The frame's size as posted (compact UTF-8 JSON)."""
    return len(text(frame).encode("utf-8"))


def fit_content(frame: Frame, *, limit: int = MAX_POST_BYTES) -> Frame:
    """The frame with its ``content`` cut so that it fits one post, marked
    ``contentTruncated``; unchanged when it fits. The whole text stays stored."""
    excess = size(frame) - limit
    if excess <= 0:
        return frame
    text = frame["content"].encode("utf-8")
    kept = text[: max(0, len(text) - excess - 64)].decode("utf-8", errors="ignore")
    return frame | {"content": kept, "contentTruncated": True}


def iso(epoch_seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. ``2026-11-25T20:01:02.345Z``."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def error(err: ChatError, *, action: str | None, request_id: str) -> Frame:
    frame: Frame = {
        "type": "error",
        "code": err.code.value,
        "message": err.message,
        "action": action,
        "requestId": request_id,
    }
    if err.field is not None:
        frame["field"] = err.field
    if err.retryable is not None:
        frame["retryable"] = err.retryable
    if err.retry_after is not None:
        frame["retryAfter"] = err.retry_after
    frame.update(err.extra)
    return frame


def reply_error(
    err: ChatError,
    *,
    request_id: str,
    conversation_id: str,
    message_id: str,
    client_message_id: str | None,
) -> Frame:
    """A reply that failed: the ``chat_message`` error, naming the reply and its turn."""
    frame = error(err, action="chat_message", request_id=request_id)
    frame |= {"conversationId": conversation_id, "messageId": message_id}
    if client_message_id:
        frame["clientMessageId"] = client_message_id
    return frame


def pong(*, now: float, connection_id: str, identity: Identity) -> Frame:
    return {
        "type": "pong",
        "timestamp": iso(now),
        "connectionId": connection_id,
        "userId": identity.user_id,
    }


def debug_status(*, now: float, connection: Connection, settings: ChatSettings) -> Frame:
    """What the server knows of the connection and whether it is configured (booleans,
    the region, and the models by label and provider: never a route's model name or ARN)."""
    who = connection.identity
    return {
        "type": "debug_status",
        "timestamp": iso(now),
        "connectionInfo": {
            "connectionId": connection.connection_id,
            "userId": who.user_id,
            "userEmail": who.email,
            "isAuthenticated": who.is_authenticated,
            "connectedAt": iso(connection.connected_at / 1000) if connection.connected_at else None,
            "tokenExpiresAt": iso(who.token_expires_at) if who.token_expires_at else None,
        },
        "environment": {
            "hasApiSecretsArn": settings.api_secret_arn is not None,
            "hasConnectionsTable": bool(settings.connections_table),
            "hasChatTable": bool(settings.chat_table),
            "region": settings.region,
            "models": [
                {"id": m.id, "label": m.label, "provider": m.provider} for m in settings.models
            ],
        },
    }


def _message(message: Message) -> Frame:
    frame: Frame = {
        "messageId": message.message_id,
        "role": message.role.value,
        "content": message.content,
        "timestamp": message.timestamp,
        "status": message.status.value,
    }
    # An answer says which model, from which provider, wrote it.
    if message.model:
        frame["model"] = message.model
    if message.provider:
        frame["provider"] = message.provider
    if message.versions > 1:  # regenerated or edited: this is the newest version
        frame["version"] = frame["versions"] = message.versions
    return frame


def models(options: Iterable[ModelOption]) -> Frame:
    """The allow-listed models, by id and label (never their routes)."""
    return {"type": "models", "models": [{"id": o.id, "label": o.label} for o in options]}


def message_versions(
    conversation_id: str, message_id: str, *, texts: Iterable[Message], answers: Iterable[Message]
) -> Frame:
    """The earlier versions of a turn (``message_id``: its user message), oldest first:
    the texts it had before edits, the answers it had before regenerations and edits."""

    def version(n: int, message: Message) -> Frame:
        return {**_message(message), "version": n}

    return {
        "type": "message_versions",
        "conversationId": conversation_id,
        "messageId": message_id,
        "texts": [version(n, m) for n, m in enumerate(texts, 1)],
        "answers": [version(n, m) for n, m in enumerate(answers, 1)],
    }


def chat_history(
    *,
    conversation_id: str,
    messages: Iterable[Message],
    next_before: str | None,
    model: str | None = None,
) -> Frame:
    """A page of history; ``model``: the model the conversation uses (None: the default)."""
    return {
        "type": "chat_history",
        "conversationId": conversation_id,
        "messages": [_message(m) for m in messages],
        "nextBefore": next_before,
        "model": model,
    }


def message_received(
    turn: Turn,
    client_message_id: str | None,
    *,
    edited: str | None = None,
    regenerated: bool = False,
) -> Frame:
    """A turn accepted: its question's id and time; a regenerate or an edit says so
    (an edit with its new text)."""
    frame: Frame = {
        "type": "message_received",
        "conversationId": turn.conversation_id,
        "messageId": turn.message.message_id,
        "clientMessageId": client_message_id,
        "timestamp": turn.message.timestamp,
    }
    if edited:
        frame |= {"edited": True, "message": edited}
    elif regenerated:
        frame["regenerated"] = True
    return frame


def ai_response_chunk(conversation_id: str, message_id: str, seq: int, delta: str) -> Frame:
    """The next piece of a streaming reply, numbered from 0 by ``seq``."""
    return _of_reply("ai_response_chunk", conversation_id, message_id, seq=seq, delta=delta)


def ai_response_snapshot(conversation_id: str, message_id: str, content: str, seq: int) -> Frame:
    """A streaming reply's text so far, up to chunk ``seq``, for a connection that joins late."""
    return _of_reply("ai_response_snapshot", conversation_id, message_id, content=content, seq=seq)


def ai_response(user_id: str, conversation_id: str, message: Message) -> Frame:
    """A reply's final frame: the whole answer, how it ended, what it cost."""
    frame: Frame = {
        "type": "ai_response",
        "action": "ai_response",
        "conversationId": conversation_id,
        "messageId": message.message_id,
        "content": message.content,
        "timestamp": message.timestamp,
        "userId": user_id,
        "model": message.model,
        "provider": message.provider,
        "finishReason": message.finish_reason,
    }
    if message.usage:
        frame["usage"] = message.usage
    return frame


def conversations(page: Page[Conversation]) -> Frame:
    return {
        "type": "conversations",
        "conversations": [
            {
                "conversationId": c.conversation_id,
                "title": c.title,
                "createdAt": c.created_at,
                "updatedAt": c.updated_at,
            }
            for c in page.items
        ],
        "nextCursor": page.next_cursor,
    }


def conversation_renamed(conversation: Conversation) -> Frame:
    return {
        "type": "conversation_renamed",
        "conversationId": conversation.conversation_id,
        "title": conversation.title,
    }


def reply_stop_requested(conversation_id: str, message_id: str) -> Frame:
    return _of_reply("reply_stop_requested", conversation_id, message_id)


def _of_reply(frame_type: str, conversation_id: str, message_id: str, **fields: Any) -> Frame:
    """``{type, conversationId, messageId, ...fields}``, in that order."""
    return {
        "type": frame_type,
        "conversationId": conversation_id,
        "messageId": message_id,
        **fields,
    }


def conversation_deleted(conversation_id: str) -> Frame:
    return {"type": "conversation_deleted", "conversationId": conversation_id}


def presence(frame_type: str, *, user_id: str, **fields: Any) -> Frame:
    """Typing and status frames: ``{type, ...fields, userId}``."""
    return {"type": frame_type, **fields, "userId": user_id}


def notifications_subscribed(kinds: Iterable[str]) -> Frame:
    return {"type": "notifications_subscribed", "subscriptions": list(kinds)}
