"""The action table of protocol v1: which use case answers which action.

Auth-required actions check the identity before they look at ``data``, so an
anonymous client always learns first that it must sign in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from realtime_chat import frames
from realtime_chat.dispatch import Route
from realtime_chat.ports import ChatStore, ConnectionStore
from realtime_chat.protocol import (
    ConversationRequest,
    HistoryQuery,
    ListConversations,
    MessageVersions,
    RenameConversation,
    SetStatus,
    Subscribe,
    Typing,
)
from realtime_chat.settings import ChatSettings
from realtime_chat.usecases import conversations, presence, status, stop, versions
from realtime_chat.usecases.context import Context

__all__ = ["authenticated", "default_routes"]

C = TypeVar("C")


def authenticated(
    action: str,
    parse: Callable[[Mapping[str, Any]], C],
    run: Callable[[Context, C], None],
) -> Route:
    """A route that needs a signed-in, unexpired user, then a valid command."""

    def route(ctx: Context, data: Mapping[str, Any]) -> None:
        ctx.require_user(action)
        run(ctx, parse(data))

    return route


def default_routes(
    *, settings: ChatSettings, chat: ChatStore, connections: ConnectionStore
) -> dict[str, Route]:
    """Every action except those that start a reply (``chat_message``,
    ``regenerate_reply``, ``edit_message``), which have a function of their own."""
    return {
        "ping": lambda ctx, _data: status.ping(ctx),
        "debug_status": lambda ctx, _data: status.debug_status(ctx, settings=settings),
        "chat_history": authenticated(
            "chat_history",
            HistoryQuery.parse,
            lambda ctx, q: conversations.history(
                ctx, q, chat=chat, reply_timeout=settings.reply_timeout
            ),
        ),
        "stop_reply": authenticated(
            "stop_reply",
            ConversationRequest.parse,
            lambda ctx, c: stop.stop_reply(ctx, c, chat=chat, reply_timeout=settings.reply_timeout),
        ),
        "list_models": authenticated(
            "list_models",
            lambda _data: None,
            lambda ctx, _none: ctx.reply(frames.models(settings.models)),
        ),
        "message_versions": authenticated(
            "message_versions",
            MessageVersions.parse,
            lambda ctx, q: versions.list_versions(ctx, q, chat=chat),
        ),
        "list_conversations": authenticated(
            "list_conversations",
            ListConversations.parse,
            lambda ctx, q: conversations.list_conversations(ctx, q, chat=chat),
        ),
        "rename_conversation": authenticated(
            "rename_conversation",
            RenameConversation.parse,
            lambda ctx, c: conversations.rename(ctx, c, chat=chat, connections=connections),
        ),
        "delete_conversation": authenticated(
            "delete_conversation",
            ConversationRequest.parse,
            lambda ctx, c: conversations.delete(
                ctx, c, chat=chat, connections=connections, reply_timeout=settings.reply_timeout
            ),
        ),
        "chat_typing": authenticated(
            "chat_typing",
            Typing.parse,
            lambda ctx, c: presence.typing(ctx, c, connections=connections),
        ),
        "user_status": authenticated(
            "user_status",
            SetStatus.parse,
            lambda ctx, c: presence.set_status(ctx, c, connections=connections),
        ),
        "subscribe_notifications": authenticated(
            "subscribe_notifications",
            Subscribe.parse,
            lambda ctx, c: presence.subscribe(ctx, c, connections=connections),
        ),
    }
