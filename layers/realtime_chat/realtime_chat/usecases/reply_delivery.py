"""Ordered delivery of a reply's frames (and its turn's acknowledgement) to every
connection of a user, in parallel, whatever each subscribed to.

Each connection gets its own queue and thread, so frames reach each client in
order while one slow (throttled) or gone connection never holds up the others.
A gone connection (410) is reported once through ``on_gone`` and skipped after. With
a ``clock``, a connection given a ``live_until`` gets nothing once it has passed: it
is checked before each send, not only when the frame was queued.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

from realtime_chat.errors import ConnectionGone, DeliveryFailed
from realtime_chat.observability import logger
from realtime_chat.ports import Clock, FrameSender

__all__ = ["ReplyDelivery"]

_DONE = object()


class ReplyDelivery:
    def __init__(
        self,
        connection_ids: Iterable[str],
        *,
        sender: FrameSender,
        on_gone: Callable[[str], None],
        clock: Clock | None = None,
    ) -> None:
        self._sender = sender
        self._on_gone = on_gone
        self._clock = clock
        self._live_until: dict[str, float] = {}
        self._queues: dict[str, queue.SimpleQueue[Any]] = {}
        self._threads: list[threading.Thread] = []
        self.gone: set[str] = set()
        for connection_id in dict.fromkeys(connection_ids):
            self._add(connection_id)

    @property
    def targets(self) -> set[str]:
        return set(self._queues)

    def join(self, connection_id: str, first: dict[str, Any]) -> None:
        """Add a connection mid-stream: it gets ``first`` (a snapshot of what it missed),
        then every frame published after this call. Call it between publishes."""
        if connection_id not in self._queues:
            self._add(connection_id).put(first)

    def _add(self, connection_id: str) -> queue.SimpleQueue[Any]:
        q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        thread = threading.Thread(target=self._deliver, args=(connection_id, q), daemon=True)
        self._queues[connection_id] = q
        self._threads.append(thread)
        thread.start()
        return q

    def publish(self, frame: dict[str, Any]) -> None:
        for q in self._queues.values():
            q.put(frame)

    def send(self, connection_id: str, frame: dict[str, Any], *, live_until: float) -> None:
        """Queue ``frame`` for one connection (added on first use), to be sent only
        while the clock is before ``live_until``."""
        self._live_until[connection_id] = live_until
        q = self._queues.get(connection_id) or self._add(connection_id)
        q.put(frame)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then stop; waits at most ``timeout`` seconds in all."""
        for q in self._queues.values():
            q.put(_DONE)
        deadline = threading.Event()
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                deadline.set()
        if deadline.is_set():
            logger.warning("some connections did not drain before the timeout")

    def _deliver(self, connection_id: str, q: queue.SimpleQueue[Any]) -> None:
        while (frame := q.get()) is not _DONE:
            if connection_id in self.gone:
                continue
            until = self._live_until.get(connection_id, math.inf)
            if self._clock is not None and self._clock() >= until:
                continue  # its token or its connection expired: nothing further
            try:
                self._sender.send(connection_id, frame)
            except ConnectionGone:
                self.gone.add(connection_id)
                self._on_gone(connection_id)
            except DeliveryFailed as err:
                logger.warning(
                    "frame dropped",
                    extra={
                        "connection_id": connection_id,
                        "frame_type": frame.get("type"),
                        "reason": type(err).__name__,
                    },
                )
            except Exception:
                logger.exception("frame delivery failed", extra={"connection_id": connection_id})
