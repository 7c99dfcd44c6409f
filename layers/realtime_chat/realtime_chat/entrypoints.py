"""What each Lambda function does with its raw event: parse it, run the use case,
shape the response API Gateway expects, and count what happened.

The composition root (:mod:`realtime_chat.composition`) builds these with real
adapters; the handlers in ``functions/`` call ``handle`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from realtime_chat import frames
from realtime_chat.dispatch import ACTIONS, Dispatcher
from realtime_chat.domain import ReplyJob
from realtime_chat.errors import (
    KeysOutage,
    KeysUnavailable,
    OriginNotAllowed,
    Refused,
    TooManyConnections,
    Unauthorized,
)
from realtime_chat.events import (
    JobRecord,
    allow_policy,
    deny_policy,
    parse_authorizer_request,
    parse_connect,
    parse_disconnect,
    parse_job_batch,
    parse_message,
)
from realtime_chat.observability import count, logger, measure
from realtime_chat.ports import ConnectionStore, TokenVerifier
from realtime_chat.usecases.connection import authorize, connect, disconnect

if TYPE_CHECKING:  # the reply's module loads only in the reply worker
    from realtime_chat.usecases.reply import Reply

__all__ = [
    "Authorizer",
    "Connector",
    "Disconnector",
    "FrameHandler",
    "ReplyWorker",
]

Event = Mapping[str, Any]
OK = {"statusCode": 200}


class Authorizer:
    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        allow_anonymous: bool,
        allowed_origins: frozenset[str] = frozenset(),
    ) -> None:
        self._verifier = verifier
        self._allow_anonymous = allow_anonymous
        self._allowed_origins = allowed_origins

    def handle(self, event: Event) -> dict[str, Any]:
        request = parse_authorizer_request(event)
        logger.append_keys(connection_id=request.info.connection_id)
        try:
            identity = authorize(
                request,
                verifier=self._verifier,
                allow_anonymous=self._allow_anonymous,
                allowed_origins=self._allowed_origins,
            )
        except OriginNotAllowed as refused:
            _note_refusal("handshake refused", refused)
            return deny_policy(request.method_arn)
        except Refused as refused:
            _note_refusal("handshake refused", refused)
            raise Unauthorized() from None
        except KeysUnavailable as outage:
            logger.error("token keys unavailable", extra={"reason": str(outage)})
            count("TokenKeysUnavailable")
            raise KeysOutage() from None
        return allow_policy(identity, request.method_arn)


def _note_refusal(what: str, refused: Refused) -> None:
    """One log line with the reason (never the token), and the refusal counted."""
    logger.info(what, extra={"reason": refused.reason})
    count("ConnectionsRefused")


class Connector:
    def __init__(
        self, *, connections: ConnectionStore, allow_anonymous: bool, max_per_user: int = 0
    ) -> None:
        self._connections = connections
        self._allow_anonymous = allow_anonymous
        self._max_per_user = max_per_user

    def handle(self, event: Event) -> dict[str, Any]:
        request = parse_connect(event)
        logger.append_keys(connection_id=request.info.connection_id)
        try:
            connection = connect(
                request,
                connections=self._connections,
                allow_anonymous=self._allow_anonymous,
                max_per_user=self._max_per_user,
            )
        except TooManyConnections as refused:
            _note_refusal("connection refused", refused)
            return {"statusCode": 429}
        except Refused as refused:
            logger.info("connection refused", extra={"reason": refused.reason})
            return {"statusCode": 401}
        kind = "authenticated" if connection.identity.is_authenticated else "anonymous"
        count("ConnectionsOpened", dimension=("identity", kind))
        return OK


class Disconnector:
    def __init__(self, *, connections: ConnectionStore) -> None:
        self._connections = connections

    def handle(self, event: Event) -> dict[str, Any]:
        request = parse_disconnect(event)
        logger.append_keys(connection_id=request.info.connection_id)
        disconnect(request, connections=self._connections)
        logger.info(
            "disconnected",
            extra={"status_code": request.status_code, "reason": request.reason},
        )
        count("ConnectionsClosed")
        return OK


class FrameHandler:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    def handle(self, event: Event) -> dict[str, Any]:
        request = parse_message(event)
        logger.append_keys(connection_id=request.info.connection_id)
        outcome = self._dispatcher.handle(request)
        # Known actions only: a client's invented names must not become metric dimensions.
        action = outcome.action if outcome.action in ACTIONS else "unknown"
        count("MessagesReceived", dimension=("action", str(action)))
        if outcome.error is not None:
            count("ErrorsSent", dimension=("code", outcome.error.value))
        if outcome.response is not None:  # a two-way route: API Gateway sends the body
            return {"statusCode": 200, "body": frames.text(outcome.response)}
        return OK


class ReplyWorker:
    """The reply function: a batch of reply jobs from its SQS event source mapping, every
    reply of it streamed at once (a thread each, each its own :class:`.ReplyStream`), in
    one invocation. Returns the batch's per-item failures (``ReportBatchItemFailures``):
    a job whose reply raised is delivered again after the queue's visibility timeout,
    and one that is not a reply job goes to the dead-letter queue after its receives.
    A job delivered again whose turn is answered, or owned by another attempt, is
    dropped by the reply's claim: for the queue it is done."""

    def __init__(self, replies: Callable[[ReplyJob], Reply]) -> None:
        self._replies = replies

    def handle(self, event: Event) -> dict[str, Any]:
        records = parse_job_batch(event)
        measure("ReplyBatchSize", len(records), "Count")
        failed: list[str] = []
        if records:
            with ThreadPoolExecutor(len(records), thread_name_prefix="reply") as pool:
                done = list(pool.map(self._reply, records))
            failed = [r.message_id for r, ok in zip(records, done, strict=True) if not ok]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}

    def _reply(self, record: JobRecord) -> bool:
        """Stream one job's reply; False when the queue must deliver it again."""
        job = record.job
        if job is None:
            logger.error("not a reply job", extra={"message_id": record.message_id})
            count("ReplyJobsMalformed")
            return False
        # The reply's log lines share the originating request's correlation id.
        logger.thread_safe_append_keys(
            correlation_id=job.request_id,
            connection_id=job.connection_id,
            conversation_id=job.conversation_id,
        )
        try:
            reply = self._replies(job)
        except Exception:
            logger.exception("reply job failed", extra={"receive_count": record.receive_count})
            count("ReplyJobsFailed")
            return False
        _count_reply(reply)
        return True


def _count_reply(reply: Reply) -> None:
    outcome = "dropped" if reply.dropped else "deleted" if reply.deleted else (reply.error or "ok")
    count("RepliesStreamed", dimension=("outcome", outcome))
    # Posts per answer and what the model cost: the dashboard's reply figures.
    if not reply.dropped:
        measure("ReplyPosts", reply.chunks, "Count")
    if reply.first_token_seconds is not None:
        measure("AiFirstTokenTime", reply.first_token_seconds * 1000, "Milliseconds")
    if reply.message is not None and reply.message.usage.get("totalTokens"):
        measure("AiTokens", reply.message.usage["totalTokens"], "Count")
    if reply.error is not None:
        count("ErrorsSent", dimension=("code", reply.error.value))
