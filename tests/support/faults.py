"""AWS faults injected as the service would answer them: an HTTP error response at
``before-send``, inside botocore's retry loop, so the client's own retries apply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


class DynamoFault:
    """Answer ``operation`` with ``code`` the next ``times`` times it is sent
    (``times=None``: always). ``sent`` counts the requests it answered. ``events`` is a
    client's ``meta.events``, or a session's ``events`` for every client made after."""

    def __init__(
        self,
        events: Any,
        operation: str,
        code: str,
        *,
        times: int | None = 1,
        status: int = 400,
        reasons: list[str] | None = None,
    ) -> None:
        self.remaining = times
        self.sent = 0
        body: dict[str, Any] = {
            "__type": f"com.amazonaws.dynamodb.v20120810#{code}",
            "message": f"injected {code}",
        }
        if reasons is not None:
            body["CancellationReasons"] = [{"Code": r} for r in reasons]
        self._response = (status, json.dumps(body).encode())
        self._event = f"before-send.dynamodb.{operation}"
        # botocore calls every "before-send" handler and uses the first response; moto's
        # handler is one of them. This one runs first and points the faulted request
        # elsewhere, so moto never executes it: a fault has no side effect.
        events.register_first("before-send", self._answer)

    def _answer(self, event_name: str, request: Any, **_: Any) -> AWSResponse | None:
        if event_name != self._event:
            return None
        if self.remaining is not None:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
        self.sent += 1
        request.url = "https://fault.invalid/"
        status, body = self._response
        return AWSResponse("https://dynamodb.local/", status, {}, _Body(body))
