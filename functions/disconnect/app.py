"""``$disconnect``: forgets the connection (its TTL covers a missed disconnect)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from realtime_chat.composition import build_disconnect
from realtime_chat.observability import logger

DISCONNECTOR = build_disconnect()


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return DISCONNECTOR.handle(event)
