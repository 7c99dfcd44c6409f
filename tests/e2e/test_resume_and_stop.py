"""Resume and stop over real sockets, against the local stack: a phone that drops and
comes back mid-answer, a second tab, and a stop sent from another connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from local_stack.launcher import Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # 40 tokens, 60 ms apart: replies of about 2.5 s
    running = start_stack(tmp_path_factory.mktemp("resume"), MODEL_TOKEN_DELAY="0.06")
    yield running
    running.stop()


async def _frames_until_final(ws: ClientConnection) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        frames.append(frame)
        if frame.get("type") in ("ai_response", "error"):
            return frames


def _rebuilt(frames: list[dict[str, Any]]) -> str:
    """What a client shows: the snapshot (if it joined late), then the later deltas."""
    text, after = "", -1
    for frame in frames:
        if frame["type"] == "ai_response_snapshot":
            text, after = frame["content"], frame["seq"]
        elif frame["type"] == "ai_response_chunk" and frame["seq"] > after:
            text += frame["delta"]
    return text


def test_a_phone_that_drops_and_comes_back_mid_answer_gets_every_word(slow_stack: Stack) -> None:
    token = slow_stack.tokens()["idToken"]
    url = f"{slow_stack.url}?token={token}"

    async def scenario() -> None:
        async with connect(url) as laptop:
            await laptop.send(
                json.dumps({"action": "chat_message", "data": {"message": "a long one please"}})
            )
            async with connect(url) as phone:  # the phone was there when it started
                await asyncio.wait_for(phone.recv(), 10)
            # ... dropped off Wi-Fi, and is back half a second later
            await asyncio.sleep(0.5)
            async with connect(url) as phone:
                seen = await _frames_until_final(phone)
            answer = await _frames_until_final(laptop)
        assert seen[0]["type"] == "ai_response_snapshot"
        assert _rebuilt(seen) == seen[-1]["content"] == answer[-1]["content"]

    asyncio.run(scenario())


def test_a_stop_from_another_connection_ends_the_reply_for_both(slow_stack: Stack) -> None:
    token = slow_stack.tokens()["idToken"]
    url = f"{slow_stack.url}?token={token}"

    async def scenario() -> None:
        async with connect(url) as laptop, connect(url) as phone:
            await laptop.send(
                json.dumps({"action": "chat_message", "data": {"message": "go on and on"}})
            )
            ack = json.loads(await asyncio.wait_for(laptop.recv(), 10))
            conversation = ack["conversationId"]
            await asyncio.sleep(0.8)
            await phone.send(
                json.dumps({"action": "stop_reply", "data": {"conversationId": conversation}})
            )
            on_phone = await _frames_until_final(phone)
            on_laptop = await _frames_until_final(laptop)
        requested = [f for f in on_phone if f["type"] == "reply_stop_requested"]
        assert requested and requested[0]["conversationId"] == conversation
        for frames in (on_phone, on_laptop):
            assert frames[-1]["finishReason"] == "stopped"
        assert _rebuilt([ack, *on_laptop]) == on_laptop[-1]["content"]
        assert "token39" not in on_laptop[-1]["content"]

    asyncio.run(scenario())
