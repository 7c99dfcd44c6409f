"""The local SQS event source mapping (``local_stack/event_sources/sqs_mapping.py``),
against moto's SQS: batches, deletes, redelivery, dead letters and the concurrency cap
behave as Lambda's mapping does."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_stack.event_sources.sqs_mapping import MappingSpec, SqsEventSource
from local_stack.lambda_runtime.workers import Invocation
from tests.support.waiting import eventually

Handler = Callable[[dict[str, Any]], Invocation]


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _queues(sqs: Any, *, visibility: int = 1, max_receives: int = 3) -> tuple[str, str, str]:
    """A queue with a dead-letter queue: (queue url, its ARN, the DLQ's url)."""
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    redrive = {
        "deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"],
        "maxReceiveCount": max_receives,
    }
    url = sqs.create_queue(
        QueueName="jobs",
        Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, arn["Attributes"]["QueueArn"], dlq


def _mapping(
    sqs: Any, url: str, arn: str, handler: Handler, **spec: Any
) -> Iterator[SqsEventSource]:
    mapping = SqsEventSource(
        MappingSpec("Jobs", "Worker", url, arn, **spec),
        sqs=sqs,
        invoke=handler,
        region="us-east-1",
        wait_seconds=1,
    )
    yield mapping.start()
    mapping.close()


def _held(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(v) for v in got.values())


def test_jobs_arrive_in_batches_shaped_as_lambdas_sqs_event_and_are_deleted(sqs: Any) -> None:
    # GIVEN a queue holding 7 jobs, and a mapping of batch size 3
    url, arn, _ = _queues(sqs)
    for n in range(7):
        sqs.send_message(QueueUrl=url, MessageBody=f"job {n}")
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any]) -> Invocation:
        events.append(event)
        return Invocation(value={"batchItemFailures": []})

    # WHEN the mapping runs
    for _ in _mapping(sqs, url, arn, handler, batch_size=3, report_item_failures=True):
        eventually(lambda: _held(sqs, url) == 0, what="every job deleted")
    # THEN every job came once, in batches of at most 3, as Lambda's SQS records
    bodies = sorted(r["body"] for e in events for r in e["Records"])
    assert bodies == [f"job {n}" for n in range(7)]
    assert max(len(e["Records"]) for e in events) <= 3
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_only_the_jobs_a_batch_reports_failed_are_delivered_again(sqs: Any) -> None:
    # GIVEN a handler that fails "b" the first time it sees it
    url, arn, _ = _queues(sqs)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    seen: list[tuple[str, str]] = []

    def handler(event: dict[str, Any]) -> Invocation:
        failures = []
        for record in event["Records"]:
            count = record["attributes"]["ApproximateReceiveCount"]
            seen.append((record["body"], count))
            if record["body"] == "b" and count == "1":
                failures.append({"itemIdentifier": record["messageId"]})
        return Invocation(value={"batchItemFailures": failures})

    # WHEN the mapping runs (the queue's visibility timeout is 1 s)
    for _ in _mapping(sqs, url, arn, handler, report_item_failures=True):
        eventually(lambda: _held(sqs, url) == 0, what="every job done")
    # THEN "a" came once; "b" came again after the visibility timeout, as its 2nd receive
    assert sorted(seen) == [("a", "1"), ("b", "1"), ("b", "2")]


def test_a_failed_invocation_leaves_its_whole_batch_and_it_ends_in_the_dead_letter_queue(
    sqs: Any,
) -> None:
    # GIVEN a function that always fails, and a queue sending to its DLQ after 2 receives
    url, arn, dlq = _queues(sqs, max_receives=2)
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    calls: list[int] = []

    def handler(event: dict[str, Any]) -> Invocation:
        calls.append(len(event["Records"]))
        return Invocation(error_type="Runtime.ExitError", error="crashed")

    # WHEN the mapping runs
    for _ in _mapping(sqs, url, arn, handler, report_item_failures=True):
        eventually(lambda: _held(sqs, dlq) == 1, what="the job in the dead-letter queue")
    # THEN it was delivered twice (maxReceiveCount), then moved to the dead-letter queue
    assert calls == [1, 1]
    assert _held(sqs, url) == 0


def test_a_failure_report_naming_no_message_of_the_batch_fails_the_whole_batch(
    sqs: Any,
) -> None:
    url, arn, _ = _queues(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="job")
    receives: list[str] = []

    def handler(event: dict[str, Any]) -> Invocation:
        (record,) = event["Records"]
        receives.append(record["attributes"]["ApproximateReceiveCount"])
        if len(receives) == 1:
            return Invocation(value={"batchItemFailures": [{"itemIdentifier": "not-mine"}]})
        return Invocation(value={"batchItemFailures": []})

    for _ in _mapping(sqs, url, arn, handler, report_item_failures=True):
        eventually(lambda: _held(sqs, url) == 0, what="the job done")
    assert receives == ["1", "2"]


def test_concurrent_invocations_never_exceed_the_maximum_concurrency(sqs: Any) -> None:
    # GIVEN 12 jobs, a mapping capped at 2 concurrent invocations of 2 jobs each, and a
    # function that holds each invocation until 2 run at once (or 2 s pass)
    url, arn, _ = _queues(sqs, visibility=30)
    for n in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=f"job {n}")
    running, most, lock = [0], [0], threading.Lock()
    both = threading.Barrier(2, timeout=2)

    def handler(event: dict[str, Any]) -> Invocation:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            both.wait()
        except threading.BrokenBarrierError:
            both.reset()
        with lock:
            running[0] -= 1
        return Invocation(value={"batchItemFailures": []})

    # WHEN the mapping runs THEN at most 2 invocations ran at once, and all jobs were done
    for mapping in _mapping(
        sqs, url, arn, handler, batch_size=2, max_concurrency=2, report_item_failures=True
    ):
        eventually(lambda: _held(sqs, url) == 0, what="every job done")
        assert mapping.pollers <= 2
    assert most[0] == 2
