"""``chat_message``: stores and acknowledges the user's message, then queues the reply
job that the reply function streams (no 29 s cut-off)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from realtime_chat.composition import build_message
from realtime_chat.observability import logged_handler

CHAT = build_message()


@logged_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return CHAT.handle(event)
