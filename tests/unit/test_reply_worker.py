"""The reply function's entry point (:class:`realtime_chat.entrypoints.ReplyWorker`):
every job of a batch streams at once, and only the jobs to deliver again are reported."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import Any

import pytest

from realtime_chat.domain import ReplyJob
from realtime_chat.entrypoints import ReplyWorker
from realtime_chat.events import job_from_event, job_to_body
from realtime_chat.usecases.reply import Reply
from tests.conftest import load_event

JOB = job_from_event(json.loads(load_event("reply_jobs")["Records"][0]["body"]))
assert JOB is not None


def _batch(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m-{i}", "body": b} for i, b in enumerate(bodies)]}


def _job(n: int) -> str:
    assert JOB is not None
    return job_to_body(replace(JOB, message_id=f"q-{n}", content=f"question {n}"))


def test_every_reply_of_a_batch_streams_at_the_same_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN replies that each wait until all three are under way (one after the other
    # they would wait forever, and fail at the barrier's timeout)
    together = threading.Barrier(3, timeout=10)

    def reply(job: ReplyJob) -> Reply:
        together.wait()
        return Reply(None, None, chunks=4)

    # WHEN a batch of three jobs arrives
    result = ReplyWorker(reply).handle(_batch(_job(1), _job(2), _job(3)))
    # THEN all three streamed in this one invocation, and none is delivered again
    assert result == {"batchItemFailures": []}
    # AND the batch's size is measured (answers per invocation)
    sizes = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [m["ReplyBatchSize"] for m in sizes if "ReplyBatchSize" in m] == [[3.0]]


def test_only_a_job_whose_reply_raised_or_that_is_no_job_is_delivered_again() -> None:
    # GIVEN a batch of a job whose reply raises, a job that streams, and a message
    # that is not a reply job
    def reply(job: ReplyJob) -> Reply:
        if job.message_id == "q-0":
            raise RuntimeError("DynamoDB unavailable before the turn was claimed")
        return Reply(None, None, chunks=2)

    # WHEN the batch is handled
    result = ReplyWorker(reply).handle(_batch(_job(0), _job(1), "{}"))
    # THEN the failed job and the stray message are reported; the streamed one is done
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-2"}]}


def test_a_job_dropped_by_its_claim_is_done_for_the_queue() -> None:
    # GIVEN a job delivered again whose turn was answered (its reply drops it)
    def reply(job: ReplyJob) -> Reply:
        return Reply(None, None, 0, dropped=True)

    # WHEN it is handled THEN the queue deletes it: it is not delivered a third time
    assert ReplyWorker(reply).handle(_batch(_job(1))) == {"batchItemFailures": []}


def test_an_empty_batch_does_nothing() -> None:
    def reply(job: ReplyJob) -> Reply:
        raise AssertionError("no job to reply to")

    assert ReplyWorker(reply).handle({"Records": []}) == {"batchItemFailures": []}
