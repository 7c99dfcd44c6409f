"""A chat turn through each provider and through failover, by the real chat_message
handler: Bedrock's side is the local ConverseStream endpoint on 127.0.0.1 (the same
server, the same scripted answers, as the OpenAI-compatible side)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_stack.ai_upstream.provider_server import MODEL_NAME
from realtime_chat.domain import MessageStatus
from tests.conftest import load_event
from tests.handlers.conftest import CONN, CONV, PHONE, Chat
from tests.support.aws import frames_answered
from tests.support.waiting import eventually

BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def _routes(chat: Chat, routes: str) -> None:
    """A new container of the chat function with these AI routes."""
    chat.reload(AI_ROUTES=routes, AWS_ENDPOINT_URL_BEDROCK_RUNTIME=chat.model.bedrock_url)


def _history(chat: Chat) -> list[dict[str, Any]]:
    frames = frames_answered(chat.load("default"), load_event("chat_history"), chat.context, CONN)
    (frame,) = [f for f in frames if f["type"] == "chat_history"]
    messages: list[dict[str, Any]] = frame["messages"]
    return messages


def test_a_turn_through_bedrock_is_answered_alike_and_history_names_the_provider(
    chat: Chat,
) -> None:
    # GIVEN the chat function configured with Bedrock only (no key is read)
    _routes(chat, f"bedrock:{BEDROCK_MODEL}")
    chat.put_secret({})
    # WHEN ada sends a message
    chat.send(message="What is a WebSocket?")
    final = chat.frames()[-1]
    # THEN Bedrock answers as the other provider would, and the answer says who wrote it
    assert final["type"] == "ai_response"
    assert final["content"].startswith("You said: What is a WebSocket? token0 ")
    assert (final["model"], final["provider"], final["finishReason"]) == (
        BEDROCK_MODEL,
        "bedrock",
        "stop",
    )
    assert final["usage"]["totalTokens"] > 0
    (request,) = chat.model.requests
    assert request["messages"][-1] == {
        "role": "user",
        "content": [{"text": "What is a WebSocket?"}],
    }
    # AND history shows the model and the provider beside the answer
    answer = _history(chat)[-1]
    assert (answer["model"], answer["provider"]) == (BEDROCK_MODEL, "bedrock")


def test_bedrock_throttling_before_the_first_token_passes_the_turn_to_the_next_route(
    chat: Chat, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN Bedrock first, throttling, then the OpenAI-compatible provider
    _routes(chat, f"bedrock:{BEDROCK_MODEL},openai:{MODEL_NAME}")
    chat.model.scenario.statuses = [429]
    # WHEN a turn is sent
    chat.send(message="Hello?")
    final = chat.frames()[-1]
    # THEN the next route answered it at once, and is stored as the one that did
    assert (final["type"], final["provider"], final["model"]) == (
        "ai_response",
        "openai",
        MODEL_NAME,
    )
    assert len(chat.model.requests) == 2  # Bedrock was not retried: the next route is the retry
    assert (chat.stored()[-1].provider, chat.stored()[-1].model) == ("openai", MODEL_NAME)
    # AND the failure is logged with its route and counted for its provider
    (failed,) = [r for r in caplog.records if r.getMessage() == "AI route failed"]
    assert (failed.route, failed.next_route) == (  # type: ignore[attr-defined]
        f"bedrock:{BEDROCK_MODEL}",
        f"openai:{MODEL_NAME}",
    )
    out = capfd.readouterr().out.splitlines()
    (metric,) = [json.loads(line) for line in out if "ModelRouteFailed" in line]
    assert metric["route"] == "bedrock"


def test_bedrock_refusing_model_access_says_what_an_operator_must_do(chat: Chat) -> None:
    _routes(chat, f"bedrock:{BEDROCK_MODEL},openai:{MODEL_NAME}")
    chat.model.scenario.statuses = [403]
    chat.send(message="Hello?")
    error = chat.frames()[-1]
    assert error["code"] == "AI_NOT_CONFIGURED"
    assert "enable access to the model" in error["message"]
    assert BEDROCK_MODEL not in json.dumps(error)
    assert len(chat.model.requests) == 1  # a configuration problem is not failed over


def test_a_stop_hangs_up_on_bedrock_while_it_sends_nothing(
    chat: Chat, capfd: pytest.CaptureFixture[str]
) -> None:
    # GIVEN Bedrock going silent for 10 s after three tokens, read with a 6 s timeout
    _routes(chat, f"bedrock:{BEDROCK_MODEL}")
    chat.reload(AI_READ_TIMEOUT="6")
    chat.model.scenario.tokens = 20
    chat.model.scenario.stall_after = 3
    chat.model.scenario.stall_seconds = 10
    chat.start(message="tell me a long story")
    eventually(lambda: any(f["type"] == "ai_response_chunk" for f in chat.frames()), what="a chunk")
    # WHEN the phone asks to stop it
    event = load_event("user_status")
    event["requestContext"]["connectionId"] = PHONE
    event["body"] = json.dumps({"action": "stop_reply", "data": {"conversationId": CONV}})
    chat.load("default").lambda_handler(event, chat.context)
    chat.replies.wait()
    # THEN the reply hung up on Bedrock and ended stopped at once, not as a provider error
    # (nor as a failure of the route)
    sent = chat.frames()
    assert [f for f in sent if f["type"] == "error"] == []
    final = [f for f in sent if f["type"] == "ai_response"][-1]
    assert final["finishReason"] == "stopped" and "token" not in final["content"]
    assert chat.stored()[-1].status is MessageStatus.STOPPED
    assert "ModelRouteFailed" not in capfd.readouterr().out
