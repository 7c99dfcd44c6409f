"""Stopping a streaming reply, from any connection of its user (the phone can stop what
the laptop started). The reply itself notices at its next checkpoint, within about a
second, closes the provider's stream and ends with ``finishReason: "stopped"``."""

from __future__ import annotations

from realtime_chat import frames
from realtime_chat.errors import ChatError, ConversationNotFound, ErrorCode
from realtime_chat.ports import ChatStore
from realtime_chat.protocol import ConversationRequest
from realtime_chat.usecases.context import Context

__all__ = ["stop_reply"]


def stop_reply(
    ctx: Context, command: ConversationRequest, *, chat: ChatStore, reply_timeout: int
) -> None:
    user_id = ctx.require_user("stop_reply")
    conversation_id = command.conversation_id
    try:
        stopping = chat.request_stop(
            user_id, conversation_id, stale_before=frames.iso(ctx.now - reply_timeout)
        )
    except ConversationNotFound:
        raise ChatError(
            ErrorCode.NOT_FOUND,
            f"Conversation '{conversation_id}' was not found.",
            field="conversationId",
        ) from None
    if not stopping:
        raise ChatError(
            ErrorCode.NOT_FOUND,
            f"No reply is in progress in conversation '{conversation_id}'.",
            field="conversationId",
        )
    for message_id in stopping:
        ctx.reply(frames.reply_stop_requested(conversation_id, message_id))
