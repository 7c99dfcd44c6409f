"""``$default``: every action but ``chat_message`` (ping, history, presence, ...)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from realtime_chat.composition import build_default
from realtime_chat.observability import logged_handler

FRAMES = build_default()


@logged_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return FRAMES.handle(event)
