"""Presence between a user's own connections: typing, status and subscriptions."""

from __future__ import annotations

from realtime_chat import frames
from realtime_chat.ports import ConnectionStore
from realtime_chat.protocol import SetStatus, Subscribe, Typing
from realtime_chat.usecases.context import Context
from realtime_chat.usecases.notify import notify_subscribed_connections

__all__ = ["set_status", "subscribe", "typing"]


def typing(ctx: Context, command: Typing, *, connections: ConnectionStore) -> None:
    user_id = ctx.require_user("chat_typing")
    fields = {"conversationId": command.conversation_id, "isTyping": command.is_typing}
    ctx.reply(frames.presence("typing_acknowledged", user_id=user_id, **fields))
    notify_subscribed_connections(
        user_id,
        frames.presence("user_typing", user_id=user_id, **fields),
        exclude=ctx.connection_id,
        now=ctx.now,
        connections=connections,
        sender=ctx.sender,
    )


def set_status(ctx: Context, command: SetStatus, *, connections: ConnectionStore) -> None:
    user_id = ctx.require_user("user_status")
    ctx.reply(frames.presence("status_updated", user_id=user_id, status=command.status))
    notify_subscribed_connections(
        user_id,
        frames.presence("user_status_change", user_id=user_id, status=command.status),
        exclude=ctx.connection_id,
        now=ctx.now,
        connections=connections,
        sender=ctx.sender,
    )


def subscribe(ctx: Context, command: Subscribe, *, connections: ConnectionStore) -> None:
    """From now on this connection receives only these notification types."""
    ctx.require_user("subscribe_notifications")
    connections.set_subscriptions(ctx.connection_id, frozenset(command.notification_types))
    ctx.reply(frames.notifications_subscribed(command.notification_types))
