"""``$connect``: records the connection with the identity the authorizer attached."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from realtime_chat.composition import build_connect
from realtime_chat.observability import logger

CONNECTOR = build_connect()


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return CONNECTOR.handle(event)
