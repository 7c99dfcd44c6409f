"""The reply worker: streams the AI replies of a batch of reply jobs from the reply
queue (its SQS event source mapping), all at once, and reports the jobs to deliver
again."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from realtime_chat.composition import build_reply
from realtime_chat.observability import logged_handler

WORKER = build_reply()


@logged_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return WORKER.handle(event)
