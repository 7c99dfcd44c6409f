"""Deliver a frame to a user's other connections that subscribed to its type, dropping
the ones that are gone."""

from __future__ import annotations

from typing import Any

from realtime_chat.errors import ConnectionGone, DeliveryFailed
from realtime_chat.observability import logger as log
from realtime_chat.ports import ConnectionStore, FrameSender

__all__ = ["notify_subscribed_connections"]


def notify_subscribed_connections(
    user_id: str,
    frame: dict[str, Any],
    *,
    exclude: str,
    now: float,
    connections: ConnectionStore,
    sender: FrameSender,
) -> int:
    """Send ``frame`` to every live connection of ``user_id`` except ``exclude`` that
    subscribed to its type (or to everything). Returns how many received it.

    A connection that is gone (410) is deleted; any other ``DeliveryFailed`` (still
    throttled, frame too large) skips that connection. None stops delivery to the rest.
    """
    delivered = 0
    for connection in connections.connections_of(user_id, now=now):
        if connection.connection_id == exclude:
            continue
        if connection.subscriptions is not None and frame["type"] not in connection.subscriptions:
            continue
        try:
            sender.send(connection.connection_id, frame)
            delivered += 1
        except ConnectionGone:
            log.info("removing stale connection %s", connection.connection_id)
            connections.delete(connection.connection_id)
        except DeliveryFailed as err:
            log.warning(
                "frame skipped",
                extra={"connection_id": connection.connection_id, "reason": type(err).__name__},
            )
    return delivered
