"""Reading and managing a user's own conversations.

Every store call is scoped by the signed-in user's id, so another user's
conversation is indistinguishable from one that does not exist: ``NOT_FOUND``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from realtime_chat import frames
from realtime_chat.domain import MessageStatus
from realtime_chat.errors import ChatError, ConversationNotFound, ErrorCode
from realtime_chat.observability import logger
from realtime_chat.ports import ChatStore, Clock, ConnectionStore
from realtime_chat.protocol import (
    ConversationRequest,
    HistoryQuery,
    ListConversations,
    RenameConversation,
)
from realtime_chat.usecases.context import Context
from realtime_chat.usecases.notify import notify_subscribed_connections

__all__ = ["delete", "history", "list_conversations", "rename"]


def _not_found(conversation_id: str) -> ChatError:
    return ChatError(
        ErrorCode.NOT_FOUND,
        f"Conversation '{conversation_id}' was not found.",
        field="conversationId",
    )


def history(ctx: Context, query: HistoryQuery, *, chat: ChatStore, reply_timeout: int) -> None:
    """The newest ``limit`` messages, oldest first. When they would not fit in one
    post, the oldest are left for the next page and ``nextBefore`` points at them. A
    reply being generated shows with ``status: "streaming"`` and its last checkpoint;
    one streaming for longer than a reply may run (counted from when its job claimed
    the turn, else from the acknowledgement) died with its invocation: ``error``."""
    user_id = ctx.require_user("chat_history")
    conversation = chat.conversation(user_id, query.conversation_id)
    if conversation is None:
        raise _not_found(query.conversation_id)
    messages, next_before = chat.history(
        user_id, query.conversation_id, limit=query.limit, before=query.before
    )
    died_before = frames.iso(ctx.now - reply_timeout)
    kept = [
        replace(m, status=MessageStatus.ERROR)
        if m.status is MessageStatus.STREAMING and (m.started_at or m.timestamp) < died_before
        else m
        for m in messages
    ]
    frame = frames.chat_history(
        conversation_id=query.conversation_id,
        messages=kept,
        next_before=next_before,
        model=conversation.model,
    )
    while frames.size(frame) > frames.MAX_POST_BYTES and len(kept) > 1:
        kept.pop(0)
        oldest = kept[0]
        frame = frames.chat_history(
            conversation_id=query.conversation_id,
            messages=kept,
            next_before=f"{oldest.timestamp}#{oldest.message_id}",
            model=conversation.model,
        )
    if len(kept) == 1:  # one message larger than a post: its text is cut to fit
        (only,) = frame["messages"]
        overhead = frames.size(frame) - frames.size(only)
        frame["messages"] = [frames.fit_content(only, limit=frames.MAX_POST_BYTES - overhead)]
    ctx.reply(frame)


def list_conversations(ctx: Context, query: ListConversations, *, chat: ChatStore) -> None:
    user_id = ctx.require_user("list_conversations")
    ctx.reply(
        frames.conversations(chat.conversations(user_id, limit=query.limit, cursor=query.cursor))
    )


def rename(
    ctx: Context,
    command: RenameConversation,
    *,
    chat: ChatStore,
    connections: ConnectionStore,
) -> None:
    user_id = ctx.require_user("rename_conversation")
    try:
        conversation = chat.rename(user_id, command.conversation_id, command.title)
    except ConversationNotFound:
        raise _not_found(command.conversation_id) from None
    frame = frames.conversation_renamed(conversation)
    ctx.reply(frame)
    notify_subscribed_connections(
        user_id,
        frame,
        exclude=ctx.connection_id,
        now=ctx.now,
        connections=connections,
        sender=ctx.sender,
    )


REPLIES_END_WITHIN = 3.0  # seconds a delete waits for its streaming replies to go quiet
_POLL_SECONDS = 0.1


def delete(
    ctx: Context,
    command: ConversationRequest,
    *,
    chat: ChatStore,
    connections: ConnectionStore,
    reply_timeout: int,
    clock: Clock = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Delete the conversation, then tell every connection of the user with
    ``conversation_deleted``: the last frame of the conversation they get. A reply
    still streaming in it finds it gone at its next checkpoint (about a second) and
    says it sends nothing more; the frame waits for that, at most
    :data:`REPLIES_END_WITHIN` seconds (a reply that hangs longer is not waited for)."""
    user_id = ctx.require_user("delete_conversation")
    conversation_id = command.conversation_id
    try:
        sending = set(
            chat.delete(user_id, conversation_id, stale_before=frames.iso(ctx.now - reply_timeout))
        )
    except ConversationNotFound:
        raise _not_found(conversation_id) from None
    deadline = clock() + REPLIES_END_WITHIN
    while sending and clock() < deadline:
        sleep(_POLL_SECONDS)
        sending &= set(chat.replies_sending(user_id, conversation_id))
        if not sending:
            chat.forget(user_id, conversation_id)
    if sending:
        logger.warning("streaming replies did not end before the delete answered")
        chat.forget(user_id, conversation_id)
    frame = frames.conversation_deleted(conversation_id)
    ctx.reply(frame)
    notify_subscribed_connections(
        user_id,
        frame,
        exclude=ctx.connection_id,
        now=ctx.now,
        connections=connections,
        sender=ctx.sender,
    )
