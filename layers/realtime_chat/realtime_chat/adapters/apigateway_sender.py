"""Posting frames through API Gateway's ``@connections`` management API.

Translates the service's errors into the library's: 410 ``GoneException`` becomes
``ConnectionGone``, 413 ``FrameTooLarge``; 429 ``LimitExceededException`` is retried
with backoff and becomes ``ConnectionThrottled`` if it persists. Callers never see
botocore.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from realtime_chat import frames
from realtime_chat.errors import ConnectionGone, ConnectionThrottled, FrameTooLarge

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

__all__ = ["ApiGatewaySender", "encode"]

_BACKOFF = (0.05, 0.1, 0.2, 0.4)  # seconds between attempts on 429


def encode(frame: dict[str, Any]) -> bytes:
    return frames.text(frame).encode("utf-8")


class ApiGatewaySender:
    def __init__(
        self,
        client: ApiGatewayManagementApiClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._sleep = sleep

    def send(self, connection_id: str, frame: dict[str, Any]) -> None:
        from botocore.exceptions import ClientError

        data = encode(frame)
        for delay in (*_BACKOFF, None):
            try:
                self._client.post_to_connection(ConnectionId=connection_id, Data=data)
                return
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code")
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code == "GoneException" or status == 410:
                    raise ConnectionGone(connection_id) from None
                if code == "PayloadTooLargeException" or status == 413:
                    raise FrameTooLarge(connection_id) from None
                if code != "LimitExceededException" and status != 429:
                    raise
                if delay is None:
                    raise ConnectionThrottled(connection_id) from None
                self._sleep(delay)
