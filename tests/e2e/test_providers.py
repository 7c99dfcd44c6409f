"""A turn through Amazon Bedrock's ConverseStream over real sockets: the local stack
started with ``PARAMETER_OVERRIDES="AiRoutes=bedrock:..."``, as `make run` takes it,
its functions reaching the local Bedrock endpoint through
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``. (The OpenAI-compatible route's turn is
test_local_stack.py's, on the template's default route.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.e2e.conftest import Stack, start_stack

pytestmark = pytest.mark.e2e

BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def bedrock_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("bedrock"),
        PARAMETER_OVERRIDES=f"AiRoutes=bedrock:{BEDROCK_MODEL}",
    )
    yield running
    running.stop()


def test_a_turn_through_bedrock_streams_the_same_answer_and_names_bedrock(
    bedrock_stack: Stack,
) -> None:
    token = bedrock_stack.tokens()["idToken"]

    async def scenario() -> list[dict[str, Any]]:
        async with connect(f"{bedrock_stack.url}?token={token}") as ws:
            await ws.send(
                json.dumps(
                    {
                        "action": "chat_message",
                        "data": {
                            "conversationId": "e2e-bedrock",
                            "message": "Stream to me",
                            "clientMessageId": "e2e-bedrock-1",
                        },
                    }
                )
            )
            frames = []
            while not frames or frames[-1].get("type") not in ("ai_response", "error"):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
            await ws.send(
                json.dumps({"action": "chat_history", "data": {"conversationId": "e2e-bedrock"}})
            )
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return frames

    frames = asyncio.run(scenario())
    *streamed, history = frames
    final = streamed[-1]
    # THEN Bedrock's answer streamed in chunks, as the OpenAI-compatible provider's does
    assert final["type"] == "ai_response", final
    chunks = [f for f in streamed if f["type"] == "ai_response_chunk"]
    assert len(chunks) >= 2
    assert final["content"] == "".join(c["delta"] for c in chunks)
    assert final["content"].startswith("You said: Stream to me")
    assert (final["provider"], final["model"], final["finishReason"]) == (
        "bedrock",
        BEDROCK_MODEL,
        "stop",
    )
    assert final["usage"]["totalTokens"] > 0
    # AND history shows who answered
    assert history["type"] == "chat_history"
    assert history["messages"][-1]["provider"] == "bedrock"
