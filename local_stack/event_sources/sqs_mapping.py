"""An SQS event source mapping, as Lambda runs one: pollers that long-poll the queue
(``ReceiveMessage`` with ``WaitTimeSeconds``) for up to ``BatchSize`` messages, invoke
the function synchronously with them as one event, and delete what it processed.

SQS semantics, through SQS's public API only (the embedded AWS's moto):
- a received message is invisible for the queue's visibility timeout; one the
  function did not process (the invocation failed, or ``ReportBatchItemFailures``
  named it) is left alone and becomes visible again, then is delivered again;
- each delivery counts a receive; past the redrive policy's ``maxReceiveCount`` SQS
  moves the message to the dead-letter queue instead of delivering it;
- with ``ReportBatchItemFailures``, a response naming an id that is not in the batch
  (or without an id) fails the whole batch, as Lambda treats it.

Scaling, as AWS documents it for standard queues: five pollers to start; while
messages wait with every poller busy (a scaler looks five times a second), one more
each time, so at most 300 a minute, up to ``MaximumConcurrency`` when set (else the
local cap); idle pollers retire back to five. A poller invokes once at a time, so
concurrent invocations never exceed the pollers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["BatchOutcome", "MappingSpec", "SqsEventSource"]

log = logging.getLogger("local_stack.event_sources")

START_POLLERS = 5  # Lambda starts a standard queue's mapping with five
SCALER_SECONDS = 0.2  # one more poller at a time: up to 300 more a minute
WAIT_SECONDS = 20  # Lambda long-polls


class Result(Protocol):
    """What the local Lambda runtime returns for an invocation."""

    @property
    def ok(self) -> bool: ...

    value: Any
    max_memory_mb: float


@dataclass(frozen=True)
class MappingSpec:
    """An ``AWS::Lambda::EventSourceMapping`` of an SQS queue, resolved."""

    logical_id: str
    function: str  # the logical id of the function it invokes
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    max_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency
    report_item_failures: bool = False


@dataclass(frozen=True)
class BatchOutcome:
    """One invocation: how many messages it carried, and how many it failed."""

    size: int
    failed: int


class SqsEventSource:
    """Polls ``spec``'s queue with ``sqs`` (a boto3 SQS client) and calls ``invoke``."""

    def __init__(
        self,
        spec: MappingSpec,
        *,
        sqs: Any,
        invoke: Callable[[dict[str, Any]], Result],
        region: str,
        local_cap: int = 32,
        wait_seconds: int = WAIT_SECONDS,
    ) -> None:
        self.spec = spec
        self._sqs = sqs
        self._invoke = invoke
        self._region = region
        self._cap = min(spec.max_concurrency or local_cap, local_cap)
        self._wait = wait_seconds
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._pollers = 0
        self._busy = 0
        self.batches: list[BatchOutcome] = []  # every invocation, in order

    @property
    def pollers(self) -> int:
        return self._pollers

    def start(self) -> SqsEventSource:
        for _ in range(min(START_POLLERS, self._cap)):
            with self._lock:
                self._pollers += 1
            self._spawn()
        scaler = threading.Thread(
            target=self._scale, name=f"scale-{self.spec.logical_id}", daemon=True
        )
        scaler.start()
        return self

    def close(self) -> None:
        """Stop polling: pollers end after their current receive or invocation."""
        self._stopped.set()

    def _spawn(self) -> None:
        """A poller thread, already counted in ``_pollers``."""
        name = f"poll-{self.spec.logical_id}-{self._pollers}"
        threading.Thread(target=self._poll, name=name, daemon=True).start()

    def _poll(self) -> None:
        while not self._stopped.is_set():
            try:
                messages = self._receive()
            except Exception:  # the embedded AWS stopping, or a queue gone
                if self._stopped.wait(1.0):
                    break
                continue
            if not messages:
                if self._retire():
                    return
                continue
            self._deliver(messages)
        with self._lock:
            self._pollers -= 1

    def _receive(self) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self.spec.queue_url,
            MaxNumberOfMessages=self.spec.batch_size,
            WaitTimeSeconds=self._wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def _retire(self) -> bool:
        """An idle poller above the starting five ends."""
        with self._lock:
            if self._pollers > START_POLLERS:
                self._pollers -= 1
                return True
        return False

    def _scale(self) -> None:
        """While jobs wait with every poller busy, add one, up to the cap."""
        while not self._stopped.wait(SCALER_SECONDS):
            with self._lock:
                saturated = self._busy >= self._pollers and self._pollers < self._cap
            if not saturated or not self._waiting():
                continue
            with self._lock:
                self._pollers += 1
            self._spawn()

    def _waiting(self) -> bool:
        try:
            answer = self._sqs.get_queue_attributes(
                QueueUrl=self.spec.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        except Exception:  # the embedded AWS stopping
            return False
        return int(answer["Attributes"]["ApproximateNumberOfMessages"]) > 0

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self._busy += 1
        started = time.monotonic()
        try:
            result = self._invoke({"Records": [self._record(m) for m in messages]})
        finally:
            with self._lock:
                self._busy -= 1
        failed = self._failed(messages, result)
        done = [m for m in messages if m["MessageId"] not in failed]
        self.batches.append(BatchOutcome(len(messages), len(failed)))
        log.info(
            "%s: %d jobs -> %s %.0f ms %s, max memory used %.0f MB",
            self.spec.logical_id,
            len(messages),
            self.spec.function,
            (time.monotonic() - started) * 1000,
            f"{len(failed)} failed" if failed else "ok",
            result.max_memory_mb,
        )
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.spec.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)
                ],
            )

    def _failed(self, messages: list[dict[str, Any]], result: Result) -> set[str]:
        """The ids to leave on the queue: all of them when the invocation failed."""
        every = {m["MessageId"] for m in messages}
        if not result.ok:
            return every
        if not self.spec.report_item_failures:
            return set()
        value = result.value if isinstance(result.value, dict) else {}
        reported = value.get("batchItemFailures") or []
        named = {str(f.get("itemIdentifier") or "") for f in reported if isinstance(f, dict)}
        if len(named) != len(reported) or not named <= every:
            log.warning(
                "%s: a batch item failure names no message of the batch", self.spec.logical_id
            )
            return every
        return named

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message as Lambda's SQS event carries it."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.spec.queue_arn,
            "awsRegion": self._region,
        }
