"""Reply jobs as messages on the reply queue, which the reply worker consumes.

``SendMessage`` returns once SQS has stored the message, so the route answers API
Gateway well inside 29 s; the reply function's event source mapping delivers the job
(at least once: the worker's claim on the turn makes a second delivery harmless).
"""

from __future__ import annotations

from typing import Any, Protocol

from realtime_chat.domain import ReplyJob
from realtime_chat.events import job_to_body

__all__ = ["SqsReplyJobs"]


class SQSClient(Protocol):
    """The one call of boto3's SQS client used here."""

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> Any: ...


class SqsReplyJobs:
    """Satisfies :class:`realtime_chat.ports.ReplyJobs` with one ``SendMessage``."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def submit(self, job: ReplyJob) -> None:
        """Queue ``job``; raises botocore's errors when SQS did not take it."""
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=job_to_body(job))
