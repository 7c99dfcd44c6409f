"""API Gateway WebSocket events, and the reply worker's SQS batches, parsed once, at
the edge, into typed values.

Past this module nothing handles the raw event ``dict``. The identity that the
``$connect`` authorizer established travels in ``requestContext.authorizer``
(API Gateway attaches it to every later event of the connection), so no later
request needs a database read to know who the user is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from realtime_chat.domain import Identity, ReplyJob

__all__ = [
    "AuthorizerRequest",
    "ConnectRequest",
    "DisconnectRequest",
    "JobRecord",
    "MessageRequest",
    "RequestInfo",
    "allow_policy",
    "identity_from_context",
    "identity_to_context",
    "job_from_event",
    "job_to_body",
    "job_to_event",
    "parse_authorizer_request",
    "parse_connect",
    "parse_disconnect",
    "parse_job_batch",
    "parse_message",
]


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The parts of ``requestContext`` every route uses."""

    connection_id: str
    request_id: str
    route_key: str
    domain_name: str
    stage: str
    connected_at: int  # epoch ms
    request_time: int  # epoch ms
    source_ip: str | None

    @property
    def callback_url(self) -> str:
        """The ``@connections`` endpoint of the API this event came through."""
        return f"https://{self.domain_name}/{self.stage}"


@dataclass(frozen=True, slots=True)
class AuthorizerRequest:
    """A ``$connect`` REQUEST authorizer event: where the token is, and what to allow."""

    method_arn: str
    token: str | None
    info: RequestInfo
    origin: str | None = None  # browsers send it; CLIs and servers usually do not


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    info: RequestInfo
    identity: Identity | None  # None when no authorizer ran


@dataclass(frozen=True, slots=True)
class DisconnectRequest:
    info: RequestInfo
    status_code: int | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class MessageRequest:
    info: RequestInfo
    identity: Identity
    body: str


def _info(event: Mapping[str, Any]) -> RequestInfo:
    ctx = event.get("requestContext") or {}
    identity = ctx.get("identity") or {}
    return RequestInfo(
        connection_id=str(ctx.get("connectionId", "")),
        request_id=str(ctx.get("requestId", "")),
        route_key=str(ctx.get("routeKey", "")),
        domain_name=str(ctx.get("domainName", "")),
        stage=str(ctx.get("stage", "")),
        connected_at=int(ctx.get("connectedAt") or 0),
        request_time=int(ctx.get("requestTimeEpoch") or 0),
        source_ip=identity.get("sourceIp"),
    )


def _header(event: Mapping[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _token(event: Mapping[str, Any]) -> str | None:
    """``?token=`` (browsers cannot set headers) wins over ``Authorization: Bearer``."""
    query = event.get("queryStringParameters") or {}
    token = query.get("token")
    if not token:
        header = (_header(event, "authorization") or "").strip()
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else header
    return token or None


def parse_authorizer_request(event: Mapping[str, Any]) -> AuthorizerRequest:
    return AuthorizerRequest(
        method_arn=str(event.get("methodArn", "")),
        token=_token(event),
        info=_info(event),
        origin=_header(event, "origin") or None,
    )


def identity_to_context(identity: Identity) -> dict[str, str | int | bool]:
    """The authorizer ``context``: only strings, numbers and booleans are allowed."""
    return {
        "userId": identity.user_id,
        "userEmail": identity.email or "",
        "isAuthenticated": identity.is_authenticated,
        "tokenExpiresAt": identity.token_expires_at or 0,
    }


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def identity_from_context(context: Mapping[str, Any] | None) -> Identity | None:
    """Read back :func:`identity_to_context`; API Gateway may turn values into strings."""
    if not context or not context.get("userId"):
        return None
    authenticated = _truthy(context.get("isAuthenticated"))
    try:
        expires = int(context.get("tokenExpiresAt") or 0)
    except (TypeError, ValueError):
        expires = 0
    if not authenticated:
        return Identity.anonymous()
    return Identity(
        user_id=str(context["userId"]),
        email=str(context.get("userEmail") or "") or None,
        is_authenticated=True,
        # An authenticated identity without an expiry is treated as already expired.
        token_expires_at=expires,
    )


def parse_connect(event: Mapping[str, Any]) -> ConnectRequest:
    ctx = event.get("requestContext") or {}
    return ConnectRequest(info=_info(event), identity=identity_from_context(ctx.get("authorizer")))


def parse_disconnect(event: Mapping[str, Any]) -> DisconnectRequest:
    ctx = event.get("requestContext") or {}
    status = ctx.get("disconnectStatusCode")
    return DisconnectRequest(
        info=_info(event),
        status_code=int(status) if status is not None else None,
        reason=ctx.get("disconnectReason"),
    )


def parse_message(event: Mapping[str, Any]) -> MessageRequest:
    ctx = event.get("requestContext") or {}
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        import base64  # binary frames are rare; keep the import off the hot path

        body = base64.b64decode(body).decode("utf-8", errors="replace")
    return MessageRequest(
        info=_info(event),
        identity=identity_from_context(ctx.get("authorizer")) or Identity.anonymous(),
        body=body if isinstance(body, str) else "",
    )


def allow_policy(identity: Identity, method_arn: str) -> dict[str, Any]:
    """A REQUEST authorizer's Allow response carrying the identity as ``context``."""
    return {
        "principalId": identity.user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}
            ],
        },
        "context": identity_to_context(identity),
    }


def deny_policy(method_arn: str) -> dict[str, Any]:
    """A Deny: API Gateway refuses the handshake with 403 (``Unauthorized`` gives 401)."""
    return {
        "principalId": "refused",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": method_arn}
            ],
        },
    }


_JOB_KIND = "reply_job"
_JOB_TEXT = (
    "user_id",
    "conversation_id",
    "message_id",
    "message_timestamp",
    "content",
    "request_id",
    "connection_id",
    "callback_url",
)


def job_to_event(job: ReplyJob) -> dict[str, Any]:
    """A reply job as the JSON document a queue message carries (:func:`job_to_body`)."""
    return {"kind": _JOB_KIND, "job": asdict(job)}


def job_to_body(job: ReplyJob) -> str:
    """The body of the SQS message that hands ``job`` to the reply worker."""
    return json.dumps(job_to_event(job), separators=(",", ":"))


def job_from_event(event: Mapping[str, Any]) -> ReplyJob | None:
    """The job in :func:`job_to_event`'s document, or None for anything else."""
    if event.get("kind") != _JOB_KIND:
        return None
    data = event.get("job") or {}
    client_message_id = data.get("client_message_id")
    reply_id, reply_timestamp = _reply(data)
    return ReplyJob(
        **{name: str(data[name]) for name in _JOB_TEXT},
        # Absent in jobs queued by an older version of the function.
        client_message_id=str(client_message_id) if client_message_id else None,
        token_expires_at=int(data.get("token_expires_at") or 0),
        connections=_connections(data.get("connections")),
        reply_id=reply_id,
        reply_timestamp=reply_timestamp,
        model=str(data["model"]) if data.get("model") else None,
    )


def _reply(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The answer stored with the turn, when the job names both its id and timestamp."""
    reply_id, timestamp = data.get("reply_id"), data.get("reply_timestamp")
    if isinstance(reply_id, str) and isinstance(timestamp, str) and reply_id and timestamp:
        return reply_id, timestamp
    return None, None


def _connections(value: Any) -> tuple[tuple[str, int], ...] | None:
    """The job's known connections; None (look them up) when absent or not as written."""
    if not isinstance(value, list):
        return None
    pairs = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            return None
        pairs.append((pair[0], int(pair[1])))
    return tuple(pairs)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One message of an SQS batch: its id (what a per-item failure names), the reply
    job it carries (None when its body is not one), and how often SQS delivered it."""

    message_id: str
    job: ReplyJob | None
    receive_count: int = 1


def parse_job_batch(event: Mapping[str, Any]) -> list[JobRecord]:
    """The records of an SQS event source mapping's event (``{"Records": [...]}``), in
    order; a body that is not JSON, or not a reply job, gives a record without a job."""
    records = []
    for record in event.get("Records") or []:
        try:
            document = json.loads(record.get("body") or "")
            job = job_from_event(document) if isinstance(document, dict) else None
        except (ValueError, KeyError, TypeError):
            job = None
        attributes = record.get("attributes") or {}
        records.append(
            JobRecord(
                message_id=str(record.get("messageId", "")),
                job=job,
                receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
            )
        )
    return records
