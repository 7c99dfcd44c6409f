"""The reply queue and its event source mapping, for handler tests: moto's SQS queue,
read in batches of up to 10 (as Lambda's mapping reads it) and handed to the reply
function on a thread of its own, in the event shape Lambda gives it. Messages the
function reports as failed stay on the queue; the others are deleted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ReplyQueue"]

Worker = Callable[[dict[str, Any]], Any]


class ReplyQueue:
    def __init__(self, sqs: Any, name: str = "reply-jobs") -> None:
        self.sqs = sqs
        self.name = name
        self.url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
        self.worker: Worker | None = None
        self.batches: list[int] = []  # the size of each batch delivered
        self._threads: list[threading.Thread] = []

    def deliver(self) -> None:
        """Receive what the queue holds now and run the worker on it, in the background."""
        thread = threading.Thread(target=self._deliver_once, daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for every delivery started so far to end, then deliver what the queue
        still holds (jobs sent by a handler called directly) until it holds none."""
        while True:
            for thread in list(self._threads):
                thread.join(timeout)
            if not self._visible():
                return
            self.deliver()

    def _visible(self) -> int:
        try:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
        except self.sqs.exceptions.QueueDoesNotExist:  # refused: nothing to deliver
            return 0
        return int(attributes["ApproximateNumberOfMessages"])

    def refuse(self) -> None:
        """SQS refuses every job from now on (the queue is gone) until :meth:`restore`."""
        self.sqs.delete_queue(QueueUrl=self.url)

    def restore(self) -> None:
        self.url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]

    def _deliver_once(self) -> None:
        try:
            messages = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
        except self.sqs.exceptions.QueueDoesNotExist:  # refused: nothing to deliver
            return
        if not messages or self.worker is None:
            return
        self.batches.append(len(messages))
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "eventSource": "aws:sqs",
            }
            for m in messages
        ]
        result = self.worker({"Records": records}) or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
