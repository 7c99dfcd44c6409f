"""The embedded AWS's request recorder (moto's), read as DynamoDB and SQS requests: for
the per-turn counts of `make bench` and the scaling model's checks. The stack must run
with MOTO_RECORDER_FILEPATH set."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from local_stack.launcher import Stack

__all__ = ["DynamoRequest", "Recording", "recording"]


@dataclass(frozen=True)
class DynamoRequest:
    operation: str
    body: dict[str, Any]

    def written_keys(self) -> Iterator[tuple[str, str]]:
        """(table, partition key value) of each item this request writes. Index keys
        count too: a put of a connection with a userId also writes the user index."""
        items = []
        if self.operation == "TransactWriteItems":
            for action in self.body.get("TransactItems", []):
                for kind in ("Put", "Update", "Delete"):
                    if kind in action:
                        items.append((action[kind]["TableName"], action[kind]))
        elif self.operation in ("PutItem", "UpdateItem", "DeleteItem"):
            items.append((self.body["TableName"], self.body))
        elif self.operation == "BatchWriteItem":
            for table, writes in self.body.get("RequestItems", {}).items():
                for write in writes:
                    request = write.get("PutRequest") or write.get("DeleteRequest") or {}
                    items.append((table, request))
        for table, request in items:
            key = request.get("Key") or request.get("Item") or {}
            for name in ("pk", "connectionId"):
                if name in key:
                    yield table, _text(key[name])
            user = (request.get("Item") or {}).get("userId")
            if user is not None:
                yield f"{table}/userId-index", _text(user)


def _text(value: dict[str, Any]) -> str:
    return str(next(iter(value.values())))


@dataclass
class Recording:
    requests: list[DynamoRequest] = field(default_factory=list)  # DynamoDB's
    sqs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (operation, body)

    def operations(self) -> Counter[str]:
        return Counter(r.operation for r in self.requests)

    def batches(self) -> list[int]:
        """How many jobs each processed batch deleted: the event source mapping deletes
        a batch's processed messages in one ``DeleteMessageBatch``."""
        return [len(b.get("Entries", [])) for op, b in self.sqs if op == "DeleteMessageBatch"]


@contextmanager
def recording(stack: Stack) -> Iterator[Recording]:
    """Every DynamoDB request made inside the block, in order."""
    result = Recording()
    _moto(stack, "reset-recording")
    _moto(stack, "start-recording")
    try:
        yield result
    finally:
        _moto(stack, "stop-recording")
        for line in _moto(stack, "download-recording").decode().splitlines():
            entry = json.loads(line)
            target = (entry.get("headers") or {}).get("X-Amz-Target", "")
            if not target.startswith(("DynamoDB_", "AmazonSQS.")):
                continue
            raw = entry.get("body") or "{}"
            if entry.get("body_encoded"):
                raw = base64.b64decode(raw).decode()
            operation = target.split(".", 1)[1]
            if target.startswith("AmazonSQS."):
                result.sqs.append((operation, json.loads(raw)))
            else:
                result.requests.append(DynamoRequest(operation, json.loads(raw)))


def _moto(stack: Stack, action: str) -> bytes:
    url = f"{stack.state['awsEndpointUrl']}/moto-api/recorder/{action}"
    request = urllib.request.Request(url, method="POST")  # noqa: S310 (the local stack's)
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
        body: bytes = answer.read()
        return body
