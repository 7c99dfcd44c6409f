"""Resume and stop over real sockets, against the local stack: a phone that drops and
comes back mid-answer, a second tab, and a stop sent from another connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from local_stack.launcher import Stack, start_stack
from tests.support.terminal import Terminal

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # 40 tokens, 100 ms apart: replies of about 4 s
    running = start_stack(tmp_path_factory.mktemp("resume"), MODEL_TOKEN_DELAY="0.1")
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


def test_deleting_mid_answer_is_the_last_frame_on_both_connections(slow_stack: Stack) -> None:
    token = slow_stack.tokens()["idToken"]
    url = f"{slow_stack.url}?token={token}"

    async def after_deleted(ws: ClientConnection) -> list[dict[str, Any]]:
        """Frames until ``conversation_deleted``, then whatever comes in the next 2 s."""
        frames: list[dict[str, Any]] = []
        while not any(f["type"] == "conversation_deleted" for f in frames):
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
        with contextlib.suppress(TimeoutError):
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 2)))
        return frames

    async def scenario() -> None:
        async with connect(url) as laptop, connect(url) as phone:
            await laptop.send(
                json.dumps({"action": "chat_message", "data": {"message": "go on and on"}})
            )
            ack = json.loads(await asyncio.wait_for(laptop.recv(), 10))
            # WHEN the phone deletes the conversation while the answer streams (its
            # first words have reached the laptop)
            while json.loads(await asyncio.wait_for(laptop.recv(), 20))["type"] != (
                "ai_response_chunk"
            ):
                pass
            request = {"conversationId": ack["conversationId"]}
            await phone.send(json.dumps({"action": "delete_conversation", "data": request}))
            on_laptop, on_phone = await asyncio.gather(after_deleted(laptop), after_deleted(phone))
        # THEN on both, conversation_deleted comes once and nothing of the reply after it
        for frames in (on_laptop, on_phone):
            kinds = [f["type"] for f in frames]
            assert kinds.count("conversation_deleted") == 1 and kinds[-1] == "conversation_deleted"
            assert "ai_response" not in kinds

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def long_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # 400 tokens, 100 ms apart: a reply of about 40 s, which the test stops well before
    # its end, so two more terminals starting on a loaded machine still find it streaming
    running = start_stack(
        tmp_path_factory.mktemp("long"), MODEL_TOKEN_DELAY="0.1", MODEL_TOKENS="400"
    )
    yield running
    running.stop()


def test_make_chat_stops_a_reply_and_shows_a_resumed_one(long_stack: Stack) -> None:
    state = long_stack.log.parent / "state"
    term = Terminal(state)
    opened: list[Terminal] = []
    try:
        term.wait_for("connected; conversation ")
        conversation = term.output.split("connected; conversation ")[1].split(".")[0]
        # WHEN a long reply starts, and two more clients connect while it streams: one
        # on that conversation, one on a new one
        term.type("please write at length")
        term.wait_for("You said:")
        other = Terminal(state, "--conversation", conversation)
        opened.append(other)
        stranger = Terminal(state)
        opened.append(stranger)
        # THEN the one on the conversation shows the answer resumed from where it was
        other.wait_for("(resumed) assistant> ")
        # WHEN /stop is typed THEN the reply ends as stopped, on both
        term.type("/stop")
        term.wait_for(", stopped,")  # the final line names the finish reason
        other.wait_for(", stopped,")
        assert "(stopping...)" in term.output
        assert "token399" not in term.output
        # AND the client on another conversation showed none of it
        stranger.wait_for("connected; conversation ")
        assert "assistant>" not in stranger.output and "stopped" not in stranger.output
    finally:
        term.close()
        for opened_term in opened:
            opened_term.close()


@pytest.mark.parametrize("last", ["token37", "token38", "token39"])
def test_a_tab_opened_as_the_answer_ends_gets_its_end_or_sees_it_complete(
    slow_stack: Stack, last: str
) -> None:
    """Whatever the timing: a tab whose history shows the answer still streaming gets
    its final frame (it existed before the final frame was published)."""
    token = slow_stack.tokens()["idToken"]
    url = f"{slow_stack.url}?token={token}"

    async def scenario() -> None:
        async with connect(url) as laptop:
            await laptop.send(
                json.dumps({"action": "chat_message", "data": {"message": "to the end"}})
            )
            ack = json.loads(await asyncio.wait_for(laptop.recv(), 10))
            seen = [ack]
            # WHEN the answer's last words arrive on the laptop, a new tab opens and
            # asks for the history at once
            while not any(last in f.get("delta", "") for f in seen):
                seen.append(json.loads(await asyncio.wait_for(laptop.recv(), 20)))
            async with connect(url) as tab:
                history = {"conversationId": ack["conversationId"]}
                await tab.send(json.dumps({"action": "chat_history", "data": history}))
                on_tab = []
                while not any(f["type"] == "chat_history" for f in on_tab):
                    on_tab.append(json.loads(await asyncio.wait_for(tab.recv(), 20)))
                (shown,) = [f for f in on_tab if f["type"] == "chat_history"]
                status = shown["messages"][-1]["status"]
                if status == "streaming":  # THEN it must get the end
                    while not any(f["type"] == "ai_response" for f in on_tab):
                        on_tab.append(json.loads(await asyncio.wait_for(tab.recv(), 20)))
            final = (await _frames_until_final(laptop))[-1]
        assert status in ("streaming", "complete")
        for frame in on_tab:
            if frame["type"] == "ai_response":
                assert frame["content"] == final["content"]
        if status == "complete":
            assert shown["messages"][-1]["content"] == final["content"]

    asyncio.run(scenario())
