"""Reply jobs handed to the reply queue (:mod:`realtime_chat.adapters.sqs_jobs`), against
moto's SQS: the message the event source mapping delivers carries the job unchanged."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
from moto import mock_aws

from realtime_chat.adapters.sqs_jobs import SqsReplyJobs
from realtime_chat.events import job_from_event, parse_job_batch
from tests.conftest import load_event

JOB = job_from_event(json.loads(load_event("reply_jobs")["Records"][0]["body"]))


def test_a_submitted_job_is_one_message_on_the_queue_carrying_the_job() -> None:
    assert JOB is not None
    job = replace(
        JOB,
        connections=(("tab-2", 1_800_000_600),),
        reply_id="a1",
        reply_timestamp="2025-11-25T20:00:00.124Z",
        model="fast",  # the model the turn chose
    )
    with mock_aws():
        # GIVEN the reply queue
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="reply-jobs")["QueueUrl"]
        # WHEN a job is submitted
        SqsReplyJobs(sqs, url).submit(job)
        # THEN the queue holds one message, which parses back into the same job
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 1
    record = {"messageId": received[0]["MessageId"], "body": received[0]["Body"]}
    (parsed,) = parse_job_batch({"Records": [record]})
    assert parsed.job == job
