"""Parsing API Gateway events: where the token is, and who travels with a connection."""

from __future__ import annotations

from realtime_chat.domain import Identity
from realtime_chat.events import (
    identity_from_context,
    identity_to_context,
    parse_authorizer_request,
    parse_disconnect,
    parse_job_batch,
    parse_message,
)
from tests.conftest import load_event


def test_the_token_comes_from_the_query_string() -> None:
    request = parse_authorizer_request(load_event("authorizer_query_token"))
    assert request.token == "REPLACE_WITH_A_COGNITO_ID_OR_ACCESS_TOKEN"
    assert request.method_arn.endswith("/prod/$connect")


def test_the_token_comes_from_a_bearer_header_when_there_is_no_query() -> None:
    request = parse_authorizer_request(load_event("authorizer_bearer_header"))
    assert request.token == "REPLACE_WITH_A_COGNITO_ID_OR_ACCESS_TOKEN"


def test_header_names_are_case_insensitive() -> None:
    event = load_event("authorizer_anonymous")
    event["headers"]["authorization"] = "bearer abc.def.ghi"
    assert parse_authorizer_request(event).token == "abc.def.ghi"


def test_no_token_and_an_empty_token_are_the_same() -> None:
    event = load_event("authorizer_anonymous")
    assert parse_authorizer_request(event).token is None
    event["queryStringParameters"] = {"token": ""}
    assert parse_authorizer_request(event).token is None


def test_identity_survives_the_authorizer_context_even_as_strings() -> None:
    identity = Identity("u-1", "a@example.com", True, 2_000_000_000)
    context = identity_to_context(identity)
    assert all(isinstance(v, str | int | bool) for v in context.values())
    assert identity_from_context(context) == identity
    as_strings = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in context.items()}
    assert identity_from_context(as_strings) == identity


def test_an_authenticated_context_without_expiry_is_already_expired() -> None:
    identity = identity_from_context({"userId": "u-1", "isAuthenticated": True})
    assert identity is not None and identity.is_expired(now=1.0)


def test_a_message_without_authorizer_context_is_anonymous() -> None:
    event = load_event("ping")
    del event["requestContext"]["authorizer"]
    assert parse_message(event).identity == Identity.anonymous()


def test_disconnect_carries_status_and_reason() -> None:
    request = parse_disconnect(load_event("disconnect"))
    assert (request.status_code, request.reason) == (1001, "Going away")
    assert (
        request.info.callback_url == "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"
    )


def test_a_batch_of_reply_jobs_gives_each_message_its_job_and_id() -> None:
    # GIVEN the event source mapping's event of one job, and a second message that is
    # not a reply job, delivered for the third time
    event = load_event("reply_jobs")
    first = event["Records"][0]
    event["Records"].append(
        first | {"messageId": "m-2", "body": "{}", "attributes": {"ApproximateReceiveCount": "3"}}
    )
    # WHEN it is parsed
    job, junk = parse_job_batch(event)
    # THEN each record names its message (what a failure report names) and its job
    assert job.message_id == first["messageId"] and job.job is not None
    assert job.job.content == "What is a WebSocket?" and job.receive_count == 1
    assert (junk.message_id, junk.job, junk.receive_count) == ("m-2", None, 3)


def test_a_body_that_is_not_json_is_a_record_without_a_job() -> None:
    event = {"Records": [{"messageId": "m-1", "body": "not json"}, {"messageId": "m-2"}]}
    assert [(r.message_id, r.job) for r in parse_job_batch(event)] == [("m-1", None), ("m-2", None)]
