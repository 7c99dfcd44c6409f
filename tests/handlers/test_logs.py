"""What the functions log, across every flow: a handshake with a token, a chat turn, each
error and each fault. No token, no secret value and no message text may appear at INFO
or above (the functions' level here), so logs can be shared while debugging."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from types import ModuleType

import pytest

from realtime_chat.observability import logger
from tests.conftest import LambdaContext, load_event
from tests.handlers.conftest import Chat
from tests.support.tokens import TokenFactory

CANARY = "LOG-CANARY-7319 my private words"  # what the user writes
SECRET = "sk-local"  # the AI key in the secret (the model checks it)


def _flows(
    chat: Chat,
    load: Callable[[str], ModuleType],
    context: LambdaContext,
    tokens: TokenFactory,
) -> list[str]:
    """Run every flow once; the secrets a log must never show."""
    good, expired = tokens.id_token(), tokens.id_token(exp=1_000_000_000)
    authorizer = load("authorizer")
    for token in (good, expired, good[:-5] + "AAAAA"):  # valid, expired, bad signature
        event = load_event("authorizer_query_token")
        event["queryStringParameters"]["token"] = token
        try:
            authorizer.lambda_handler(event, context)
        except Exception as refused:  # refusals are part of the flow
            assert str(refused) == "Unauthorized"
    load("connect").lambda_handler(load_event("connect_with_token"), context)
    default = load("default")
    for name in ("debug_status", "ping", "chat_history", "invalid_json", "unknown_action"):
        default.lambda_handler(load_event(name), context)
    rename = load_event("rename_conversation")
    rename["body"] = json.dumps({"action": "rename_conversation", "data": {"title": CANARY}})
    default.lambda_handler(rename, context)
    # A chat turn, then its faults: a failing provider, a broken stream, a bad key.
    chat.send(message=CANARY, clientMessageId="log-1")
    chat.model.scenario.statuses = [503, 503, 503]
    chat.send(message=CANARY, clientMessageId="log-2")
    chat.model.scenario.break_after = 3
    chat.send(message=CANARY, clientMessageId="log-3")
    chat.model.scenario.break_after = None
    chat.model.scenario.api_key = "another-key"
    chat.send(message=CANARY, clientMessageId="log-4")
    chat.send(message=CANARY * 500, clientMessageId="log-5")  # too long
    return [good, expired, good.rsplit(".", 1)[-1], SECRET, CANARY, "my private words"]


def test_no_token_secret_or_message_text_is_ever_logged(
    chat: Chat,
    load_handler: Callable[[str], ModuleType],
    lambda_context: LambdaContext,
    tokens: TokenFactory,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Every line exactly as the functions write it: Powertools' JSON, extras included
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        never = _flows(chat, load_handler, lambda_context, tokens)
        chat.replies.wait()
    finally:
        logger.removeHandler(handler)
    out, err = capfd.readouterr()  # and whatever else reached stdout or stderr
    written = lines.getvalue().splitlines() + (out + err).splitlines()
    # The flows did log (a test that captured nothing would prove nothing)
    messages = {json.loads(line)["message"] for line in lines.getvalue().splitlines()}
    assert {"handshake refused", "model unavailable"} <= messages
    for secret in never:
        assert not any(secret in line for line in written), f"logged: {secret[:20]}…"
