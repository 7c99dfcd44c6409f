"""``$connect``: records the connection with the identity the authorizer attached."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from realtime_chat.composition import build_connect
from realtime_chat.observability import logged_handler

CONNECTOR = build_connect()


@logged_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return CONNECTOR.handle(event)
