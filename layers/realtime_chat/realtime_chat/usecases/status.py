"""Actions any connection may use, signed in or not: ``ping`` and ``debug_status``.

Both answer from the event alone: zero DynamoDB requests.
"""

from __future__ import annotations

from realtime_chat import frames
from realtime_chat.settings import ChatSettings
from realtime_chat.usecases.context import Context

__all__ = ["debug_status", "ping"]


def ping(ctx: Context) -> None:
    ctx.reply(frames.pong(now=ctx.now, connection_id=ctx.connection_id, identity=ctx.identity))


def debug_status(ctx: Context, *, settings: ChatSettings) -> None:
    """What the server knows of this connection and whether it is configured (booleans only)."""
    ctx.reply(frames.debug_status(now=ctx.now, connection=ctx.connection, settings=settings))
