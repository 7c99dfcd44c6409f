"""Fan-out of a reply: ordered per connection, and no connection waits for another."""

from __future__ import annotations

import threading
import time
from typing import Any

from realtime_chat.errors import ConnectionGone
from realtime_chat.usecases.reply_delivery import ReplyDelivery
from tests.support.waiting import HANG_SECONDS, eventually


class Sender:
    def __init__(self, slow: str, gone: str) -> None:
        self.slow, self.gone = slow, gone
        self.sent: dict[str, list[tuple[float, int]]] = {}
        self.release = threading.Event()

    def send(self, connection_id: str, frame: dict[str, Any]) -> None:
        if connection_id == self.gone:
            raise ConnectionGone(connection_id)
        if connection_id == self.slow:
            self.release.wait(HANG_SECONDS)
        self.sent.setdefault(connection_id, []).append((time.monotonic(), frame["n"]))


def test_a_slow_connection_does_not_hold_up_the_others_and_a_gone_one_is_dropped() -> None:
    # GIVEN three connections: one stuck (throttled client), one gone, one healthy
    sender = Sender(slow="stuck", gone="gone")
    forgotten: list[str] = []
    delivery = ReplyDelivery(["stuck", "gone", "fine"], sender=sender, on_gone=forgotten.append)
    # WHEN ten frames are published
    for n in range(10):
        delivery.publish({"n": n})
    eventually(lambda: len(sender.sent.get("fine", [])) == 10, what="ten frames to 'fine'")
    # THEN the healthy connection has all ten, in order, while the stuck one has none yet
    assert [n for _, n in sender.sent["fine"]] == list(range(10))
    assert "stuck" not in sender.sent
    # AND the gone one was reported once and skipped after
    assert forgotten == ["gone"]
    # AND the stuck one gets everything, in order, once it drains
    sender.release.set()
    delivery.close()
    assert [n for _, n in sender.sent["stuck"]] == list(range(10))


def test_frames_queued_for_a_connection_are_not_sent_once_its_token_has_expired() -> None:
    # GIVEN a tab live until t=10, whose first post is held up (throttled) at t=9
    now = [9.0]
    started, release = threading.Event(), threading.Event()
    sent: list[int] = []

    class Held:
        def send(self, connection_id: str, frame: dict[str, Any]) -> None:
            if frame["n"] == 0:
                started.set()
                release.wait(5)
            sent.append(frame["n"])

    delivery = ReplyDelivery((), sender=Held(), on_gone=lambda _c: None, clock=lambda: now[0])
    for n in range(3):
        delivery.send("tab", {"n": n}, live_until=10.0)
    assert started.wait(5)
    # WHEN its token expires while the later frames wait in its queue
    now[0] = 10.0
    release.set()
    delivery.close()
    # THEN the post under way completes, and nothing after it is sent
    assert sent == [0]
