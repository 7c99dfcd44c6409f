"""``$disconnect``: forgets the connection (its TTL covers a missed disconnect)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from realtime_chat.composition import build_disconnect
from realtime_chat.observability import logged_handler

DISCONNECTOR = build_disconnect()


@logged_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return DISCONNECTOR.handle(event)
