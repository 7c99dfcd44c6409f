"""``$connect`` REQUEST authorizer: verifies the Cognito JWT, if any, and attaches the identity."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from realtime_chat.composition import build_authorizer
from realtime_chat.observability import logged_handler

AUTHORIZER = build_authorizer()


@logged_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return AUTHORIZER.handle(event)
