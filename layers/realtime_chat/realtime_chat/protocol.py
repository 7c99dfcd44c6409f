"""Protocol v1, client side: a frame's text becomes a typed command, or a ChatError.

A client sends ``{"action": "<name>", "data": {...}}``; the fields may also stand
at the top level beside ``action`` (older clients do that). Every check names the
field it refused, so the client can tell what to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from realtime_chat.errors import ChatError, ErrorCode
from realtime_chat.titles import MAX_TITLE_CHARS, clean_title

__all__ = [
    "ALWAYS_DELIVERED",
    "MAX_FRAME_BYTES",
    "NOTIFICATION_TYPES",
    "STATUSES",
    "ChatMessage",
    "ClientFrame",
    "ConversationRequest",
    "EditMessage",
    "HistoryQuery",
    "ListConversations",
    "MessageVersions",
    "RegenerateReply",
    "RenameConversation",
    "SetStatus",
    "Subscribe",
    "Typing",
    "check_text",
    "decode_frame",
    "is_text",
]

MAX_FRAME_BYTES = 32 * 1024  # API Gateway's frame size limit
STATUSES = ("online", "away", "busy", "offline")
NOTIFICATION_TYPES = (
    "user_typing",
    "user_status_change",
    "conversation_renamed",
    "conversation_deleted",
)
# Names Junokit's clients subscribe to (``['chat', 'system', 'ai_response']``). Replies
# and system notices reach every connection of the user whatever it subscribed to, so
# these are accepted and change nothing for those frames.
ALWAYS_DELIVERED = ("chat", "system", "ai_response")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_CURSOR = re.compile(r"[A-Za-z0-9_.:#=+/-]{1,512}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ClientFrame:
    action: str
    data: Mapping[str, Any]


def is_text(value: object) -> bool:
    """A string that can be stored and sent: no lone surrogates."""
    return isinstance(value, str) and not _SURROGATE.search(value)


def decode_frame(body: str) -> ClientFrame:
    """The frame's action and data; raises a ``ChatError`` (``MESSAGE_TOO_LARGE``,
    ``INVALID_JSON``, ``INVALID_MESSAGE``). Check its text next (:func:`check_text`)."""
    # surrogatepass: a body holding lone surrogates is measured here, refused by check_text.
    if len(body.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        raise ChatError(
            ErrorCode.MESSAGE_TOO_LARGE, f"A frame may be at most {MAX_FRAME_BYTES} bytes."
        )
    try:
        frame = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can go
        raise ChatError(ErrorCode.INVALID_JSON, "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise ChatError(ErrorCode.INVALID_MESSAGE, "The frame must be a JSON object.")
    action = frame.get("action")
    if not isinstance(action, str) or not action:
        raise _invalid("action", "is required and must be a non-empty string")
    data = frame.get("data")
    if data is None:
        data = {k: v for k, v in frame.items() if k != "action"}
    elif not isinstance(data, dict):
        raise _invalid("data", "must be a JSON object")
    return ClientFrame(action=action, data=data)


def check_text(frame: ClientFrame) -> None:
    """Refuse text that cannot be stored or sent: JSON's ``\\ud800`` escapes decode to
    lone surrogates, which are not Unicode scalar values. Names the field the client
    sent (inside ``data`` by its own name) before anything is charged or stored.
    Iterative, so a frame nested as deep as the decoder allows cannot exhaust the stack."""
    if not is_text(frame.action):
        raise _invalid("action", "contains invalid Unicode (a lone surrogate)")
    if not all(is_text(name) for name in frame.data):
        raise _invalid("data", "has a field name with invalid Unicode")
    pending: list[tuple[str, Any]] = list(frame.data.items())
    while pending:
        field, value = pending.pop()
        if isinstance(value, dict):
            pending.extend((field, key) for key in value)
            pending.extend((field, item) for item in value.values())
        elif isinstance(value, list):
            pending.extend((field, item) for item in value)
        elif isinstance(value, str) and not is_text(value):
            shown = field if len(field) <= 64 else field[:64] + "…"
            raise _invalid(shown, "contains invalid Unicode (a lone surrogate)")


def _invalid(field: str, problem: str) -> ChatError:
    return ChatError(ErrorCode.INVALID_MESSAGE, f"'{field}' {problem}.", field=field)


def _id(data: Mapping[str, Any], field: str, *, required: bool) -> str | None:
    value = data.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise _invalid(
            field,
            "must be 1-128 characters of letters, digits, '_', '-', '.' or ':', "
            "starting with a letter or digit",
        )
    return value


def _limit(data: Mapping[str, Any], *, default: int, high: int) -> int:
    value = data.get("limit", default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise _invalid("limit", f"must be a whole number from 1 to {high}")
    return value


def _cursor(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not _CURSOR.fullmatch(value):
        raise _invalid(field, "must be a value returned by an earlier reply")
    return value


def _model(data: Mapping[str, Any], models: Sequence[str]) -> str | None:
    """An allow-listed model id, or None when the frame names none."""
    value = data.get("model")
    if value is None:
        return None
    if value not in models:
        allowed = ", ".join(models) if models else "none: this server offers no choice"
        raise _invalid("model", f"must be one of the models list_models returns ({allowed})")
    return str(value)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    conversation_id: str | None
    message: str
    client_message_id: str | None
    model: str | None = None  # an allow-listed model id; it sticks to the conversation

    @classmethod
    def parse(
        cls, data: Mapping[str, Any], *, max_chars: int, models: Sequence[str] = ()
    ) -> ChatMessage:
        text = _text(data, max_chars=max_chars)  # the message first, as clients expect
        return cls(
            conversation_id=_id(data, "conversationId", required=False),
            message=text,
            client_message_id=_id(data, "clientMessageId", required=False),
            model=_model(data, models),
        )


def _text(data: Mapping[str, Any], *, max_chars: int) -> str:
    text = data.get("message")
    if not isinstance(text, str) or not text.strip():
        raise _invalid("message", "is required and must be non-empty text")
    if len(text) > max_chars:
        raise ChatError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"'message' may be at most {max_chars} characters (got {len(text)}).",
            field="message",
        )
    return text


@dataclass(frozen=True, slots=True)
class RegenerateReply:
    """Answer the conversation's last user message again."""

    conversation_id: str
    client_message_id: str | None
    model: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, models: Sequence[str] = ()) -> RegenerateReply:
        return cls(
            conversation_id=_id(data, "conversationId", required=True) or "",
            client_message_id=_id(data, "clientMessageId", required=False),
            model=_model(data, models),
        )


@dataclass(frozen=True, slots=True)
class EditMessage:
    """Replace the text of the conversation's last user message, then answer it again."""

    conversation_id: str
    message_id: str
    message: str
    client_message_id: str | None
    model: str | None = None

    @classmethod
    def parse(
        cls, data: Mapping[str, Any], *, max_chars: int, models: Sequence[str] = ()
    ) -> EditMessage:
        return cls(
            conversation_id=_id(data, "conversationId", required=True) or "",
            message_id=_id(data, "messageId", required=True) or "",
            message=_text(data, max_chars=max_chars),
            client_message_id=_id(data, "clientMessageId", required=False),
            model=_model(data, models),
        )


@dataclass(frozen=True, slots=True)
class MessageVersions:
    """The earlier versions of a turn, named by its user message."""

    conversation_id: str
    message_id: str

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> MessageVersions:
        return cls(
            conversation_id=_id(data, "conversationId", required=True) or "",
            message_id=_id(data, "messageId", required=True) or "",
        )


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    conversation_id: str
    limit: int
    before: str | None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> HistoryQuery:
        return cls(
            conversation_id=_id(data, "conversationId", required=True) or "",
            limit=_limit(data, default=50, high=100),
            before=_cursor(data, "before"),
        )


@dataclass(frozen=True, slots=True)
class ListConversations:
    limit: int
    cursor: str | None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ListConversations:
        return cls(limit=_limit(data, default=20, high=100), cursor=_cursor(data, "cursor"))


@dataclass(frozen=True, slots=True)
class RenameConversation:
    conversation_id: str
    title: str

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RenameConversation:
        title = data.get("title")
        # Cleaned as an automatic title is: controls and bidi overrides go, spaces collapse.
        cleaned = clean_title(title) if isinstance(title, str) else ""
        if not cleaned:
            raise _invalid("title", "is required: text with something to show")
        if len(cleaned) > MAX_TITLE_CHARS:
            raise _invalid("title", f"may be at most {MAX_TITLE_CHARS} characters")
        return cls(conversation_id=_id(data, "conversationId", required=True) or "", title=cleaned)


@dataclass(frozen=True, slots=True)
class ConversationRequest:
    """A request that names one conversation and nothing else: ``delete_conversation``
    and ``stop_reply`` (the route says which)."""

    conversation_id: str

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ConversationRequest:
        return cls(conversation_id=_id(data, "conversationId", required=True) or "")


@dataclass(frozen=True, slots=True)
class Typing:
    conversation_id: str
    is_typing: bool

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Typing:
        is_typing = data.get("isTyping")
        if not isinstance(is_typing, bool):
            raise _invalid("isTyping", "is required and must be true or false")
        return cls(
            conversation_id=_id(data, "conversationId", required=True) or "",
            is_typing=is_typing,
        )


@dataclass(frozen=True, slots=True)
class SetStatus:
    status: str

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> SetStatus:
        status = data.get("status")
        if status not in STATUSES:
            raise _invalid("status", f"must be one of {', '.join(STATUSES)}")
        return cls(status=str(status))


@dataclass(frozen=True, slots=True)
class Subscribe:
    notification_types: tuple[str, ...]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Subscribe:
        kinds = data.get("notificationTypes")
        known = (*NOTIFICATION_TYPES, *ALWAYS_DELIVERED)
        if (
            not isinstance(kinds, list)
            or not kinds
            or not all(isinstance(k, str) and k in known for k in kinds)
        ):
            raise _invalid(
                "notificationTypes", f"must be a non-empty list drawn from {', '.join(known)}"
            )
        return cls(notification_types=tuple(dict.fromkeys(kinds)))
