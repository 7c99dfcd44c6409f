"""End to end over real sockets: the `websockets` client against `python -m local_stack`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.conftest import Stack, free_port, start_stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def _ask(ws: ClientConnection, frame: dict[str, Any] | str) -> dict[str, Any]:
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return answer


async def _until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Frames received up to and including the first of type ``kind`` (or an error)."""
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
        frames.append(frame)
        if frame.get("type") in (kind, "error"):
            return frames


def test_anonymous_users_can_ping_but_not_chat(stack: Stack) -> None:
    async def scenario() -> None:
        async with connect(stack.url) as ws:
            pong = await _ask(ws, {"action": "ping"})
            assert (pong["type"], pong["userId"]) == ("pong", "anonymous")
            refused = await _ask(ws, {"action": "chat_message", "data": {"message": "hi"}})
            assert refused["code"] == "AUTH_REQUIRED"
            assert refused["message"] == (
                "Authentication required for chat messages. Please sign in to use real-time chat."
            )
            assert refused["debugInfo"]["userId"] == "anonymous"

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("garbage", 401),
        ("a.b.c", 401),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", 401),
        ("x" * 4000, 401),  # the URL still fits: the verifier refuses it as malformed
        ("x" * 5000, 414),  # the URL is over API Gateway's 4096 characters
    ],
)
def test_bad_tokens_in_the_url_are_refused_with_their_exact_status(
    stack: Stack, token: str, status: int
) -> None:
    async def scenario() -> None:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(f"{stack.url}?token={token}"):
                pass
        assert refused.value.response.status_code == status

    asyncio.run(scenario())


@pytest.mark.parametrize("token", ["x" * 5000, "garbage"])
def test_bad_tokens_in_the_authorization_header_are_refused_with_401(
    stack: Stack, token: str
) -> None:
    # A header is not bounded by the URL limit: an oversized token reaches the verifier,
    # whose own size check refuses it.
    async def scenario() -> None:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(stack.url, additional_headers={"Authorization": f"Bearer {token}"}):
                pass
        assert refused.value.response.status_code == 401

    asyncio.run(scenario())


def test_each_refused_handshake_logs_one_line_and_no_traceback(stack: Stack) -> None:
    async def scenario() -> None:
        with pytest.raises(websockets.InvalidStatus):
            async with connect(f"{stack.url}?token=refused-once-for-the-log"):
                pass

    before = stack.log.read_text()
    asyncio.run(scenario())
    eventually(
        lambda: "handshake refused" in stack.log.read_text()[len(before) :],
        what="the refused handshake's line",
    )
    added = stack.log.read_text()[len(before) :]
    assert "Traceback" not in added
    assert [line for line in added.splitlines() if "handshake refused" in line]


def test_hostile_frames_get_a_defined_answer_and_the_connection_stays_usable(
    stack: Stack,
) -> None:
    token = stack.tokens()["idToken"]

    async def scenario() -> None:
        async with connect(f"{stack.url}?token={token}") as ws:
            deep = await _ask(ws, "[" * 16000 + "]" * 16000)
            assert (deep["type"], deep["code"]) == ("error", "INVALID_JSON")
            lone = await _ask(
                ws,
                '{"action":"chat_message","data":{"message":"\\ud800","clientMessageId":"u-1"}}',
            )
            assert (lone["code"], lone["field"], lone["clientMessageId"]) == (
                "INVALID_MESSAGE",
                "message",
                "u-1",
            )
            pong = await _ask(ws, {"action": "ping"})
            assert pong["type"] == "pong"

    asyncio.run(scenario())


def test_a_signed_in_user_gets_a_streamed_reply_and_history(stack: Stack) -> None:
    token = stack.tokens()["idToken"]

    async def scenario() -> None:
        async with connect(f"{stack.url}?token={token}") as ws:
            debug = await _ask(ws, {"action": "debug_status"})
            info = debug["connectionInfo"]
            assert info["isAuthenticated"] is True
            assert info["userEmail"] == stack.state["demoUser"]["email"]
            await ws.send(
                json.dumps(
                    {
                        "action": "chat_message",
                        "data": {
                            "conversationId": "e2e-stream",
                            "message": "Stream to me",
                            "clientMessageId": "e2e-1",
                        },
                    }
                )
            )
            frames = await _until(ws, "ai_response")
            assert frames[0]["type"] == "message_received"
            chunks = [f for f in frames if f["type"] == "ai_response_chunk"]
            assert len(chunks) >= 2
            assert [c["seq"] for c in chunks] == list(range(len(chunks)))
            final = frames[-1]
            assert final["type"] == "ai_response"
            assert final["content"] == "".join(c["delta"] for c in chunks)
            assert final["content"].startswith("You said: Stream to me")
            # AND the template's default route answered: the OpenAI-compatible provider
            assert final["provider"] == "openai"
            history = await _ask(
                ws, {"action": "chat_history", "data": {"conversationId": "e2e-stream"}}
            )
            assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
            assert history["messages"][1]["provider"] == "openai"
            listing = await _ask(ws, {"action": "list_conversations"})
            ids = [c["conversationId"] for c in listing["conversations"]]
            assert "e2e-stream" in ids

    asyncio.run(scenario())


def test_an_access_token_in_a_bearer_header_is_accepted(stack: Stack) -> None:
    token = stack.tokens()["accessToken"]

    async def scenario() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with connect(stack.url, additional_headers=headers) as ws:
            debug = await _ask(ws, {"action": "debug_status"})
            assert debug["connectionInfo"]["isAuthenticated"] is True

    asyncio.run(scenario())


def test_every_conversation_action_over_the_wire(stack: Stack) -> None:
    token = stack.tokens()["idToken"]

    async def scenario() -> None:
        async with connect(f"{stack.url}?token={token}") as ws:
            await ws.send(
                json.dumps(
                    {
                        "action": "chat_message",
                        "data": {"conversationId": "e2e-actions", "message": "one"},
                    }
                )
            )
            await _until(ws, "ai_response")
            renamed = await _ask(
                ws,
                {
                    "action": "rename_conversation",
                    "data": {"conversationId": "e2e-actions", "title": "Named"},
                },
            )
            assert renamed == {
                "type": "conversation_renamed",
                "conversationId": "e2e-actions",
                "title": "Named",
            }
            typing = await _ask(
                ws,
                {
                    "action": "chat_typing",
                    "data": {"conversationId": "e2e-actions", "isTyping": True},
                },
            )
            assert typing["type"] == "typing_acknowledged"
            status = await _ask(ws, {"action": "user_status", "data": {"status": "busy"}})
            assert status["type"] == "status_updated"
            subscribed = await _ask(
                ws,
                {
                    "action": "subscribe_notifications",
                    "data": {"notificationTypes": ["user_typing"]},
                },
            )
            assert subscribed["subscriptions"] == ["user_typing"]
            deleted = await _ask(
                ws, {"action": "delete_conversation", "data": {"conversationId": "e2e-actions"}}
            )
            assert deleted["type"] == "conversation_deleted"
            missing = await _ask(
                ws, {"action": "chat_history", "data": {"conversationId": "e2e-actions"}}
            )
            assert missing["code"] == "NOT_FOUND"
            unknown = await _ask(ws, {"action": "dance"})
            assert unknown["code"] == "UNKNOWN_ACTION"
            await ws.send("{not json")
            broken = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert broken["code"] == "INVALID_JSON"
            pong = await _ask(ws, {"action": "ping"})  # still open after bad input
            assert pong["type"] == "pong"

    asyncio.run(scenario())


def test_two_connections_of_one_user_both_see_the_reply(stack: Stack) -> None:
    token = stack.tokens()["idToken"]

    async def scenario() -> None:
        async with (
            connect(f"{stack.url}?token={token}") as laptop,
            connect(f"{stack.url}?token={token}") as phone,
        ):
            await _ask(laptop, {"action": "ping"})
            await _ask(phone, {"action": "ping"})
            await laptop.send(
                json.dumps(
                    {
                        "action": "chat_typing",
                        "data": {"conversationId": "e2e-two", "isTyping": True},
                    }
                )
            )
            seen = await _until(phone, "user_typing")
            assert seen[-1]["type"] == "user_typing"
            await _until(laptop, "typing_acknowledged")
            await laptop.send(
                json.dumps(
                    {
                        "action": "chat_message",
                        "data": {"conversationId": "e2e-two", "message": "sync"},
                    }
                )
            )
            on_laptop = await _until(laptop, "ai_response")
            on_phone = await _until(phone, "ai_response")
            assert on_laptop == on_phone

    asyncio.run(scenario())


def test_disconnect_removes_the_connection_item(stack: Stack) -> None:
    table = stack.state["connectionsTable"]
    dynamodb = stack.aws("dynamodb")

    async def scenario() -> str:
        async with connect(stack.url) as ws:
            pong = await _ask(ws, {"action": "ping"})
            connection_id: str = pong["connectionId"]
            key = {"connectionId": {"S": connection_id}}
            assert "Item" in dynamodb.get_item(TableName=table, Key=key)
        return connection_id

    connection_id = asyncio.run(scenario())
    key = {"connectionId": {"S": connection_id}}
    eventually(
        lambda: "Item" not in dynamodb.get_item(TableName=table, Key=key),
        what="$disconnect removed the item",
    )


def test_a_frame_over_32_kb_closes_the_connection_with_1009(stack: Stack) -> None:
    async def scenario() -> str:
        async with connect(stack.url, max_size=None) as ws:
            pong = await _ask(ws, {"action": "ping"})
            await ws.send(json.dumps({"action": "ping", "pad": "x" * 33_000}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
        return str(pong["connectionId"])

    connection_id = asyncio.run(scenario())
    # AND the gateway's line says the code the client got
    eventually(
        lambda: f"{connection_id} closed: 1009" in stack.log.read_text(),
        what=f"the gateway's line for {connection_id}: closed: 1009",
    )


def test_an_idle_connection_is_closed_after_the_idle_timeout(stack: Stack) -> None:
    async def scenario() -> None:
        async with connect(stack.url) as ws:
            await _ask(ws, {"action": "ping"})
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)  # IDLE_TIMEOUT_SECONDS=4
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001

    asyncio.run(scenario())


def test_a_port_in_use_is_a_clear_message_not_a_traceback(tmp_path: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError) as failed:
            start_stack(tmp_path, WS_PORT=str(port), AWS_PORT=str(free_port()))
    message = str(failed.value)
    assert f"Port {port}" in message and "WS_PORT" in message
    assert "Traceback" not in message


def test_the_stack_starts_again_on_the_same_ports_right_after_it_stopped(
    tmp_path: Path,
) -> None:
    # GIVEN a stack that served a connection (its sockets linger in TIME_WAIT) and stopped
    ports = {"WS_PORT": str(free_port()), "AWS_PORT": str(free_port())}
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = start_stack(tmp_path / "first", **ports)

    async def ping(url: str) -> None:
        async with connect(url) as ws:
            assert (await _ask(ws, {"action": "ping"}))["type"] == "pong"

    asyncio.run(ping(first.url))
    first.stop()
    # WHEN it is started again at once on the same ports THEN it starts and serves
    second = start_stack(tmp_path / "second", **ports)
    try:
        asyncio.run(ping(second.url))
    finally:
        second.stop()


def test_a_second_stack_on_the_same_state_refuses_and_leaves_the_first_alone(
    stack: Stack,
) -> None:
    # GIVEN a running stack WHEN another starts with the same state directory (other ports)
    state = stack.log.parent / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    second = subprocess.run(
        [sys.executable, "-m", "local_stack"],
        capture_output=True,
        text=True,
        env={
            **env,
            "LOCAL_STATE_DIR": str(state),
            "WS_PORT": str(free_port()),
            "AWS_PORT": str(free_port()),
        },
        timeout=120,
        check=False,
    )
    # THEN it refuses in a line, and the first one's state is untouched and still true
    assert second.returncode == 2, second.stderr
    assert "another local stack is running" in second.stderr
    assert "Traceback" not in second.stderr
    assert json.loads((state / "stack.json").read_text())["websocketUrl"] == stack.url


def test_a_stack_killed_with_sigkill_leaves_no_process_on_its_ports(tmp_path: Path) -> None:
    # GIVEN a running stack
    running = start_stack(tmp_path)
    ports = [
        int(running.state[key].rsplit(":", 1)[1]) for key in ("websocketUrl", "awsEndpointUrl")
    ]
    # WHEN it is killed without a chance to clean up
    running.process.kill()
    running.process.wait()
    # THEN nothing of it keeps its ports, and a new stack may start on them
    eventually(lambda: all(_free(port) for port in ports), what="the stack's ports freed")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize(
    "module", ["local_stack.tools.token", "local_stack.tools.invoke", "local_stack.tools.chat"]
)
def test_tools_say_plainly_when_the_stack_is_dead_but_its_state_file_remains(
    tmp_path: Path, module: str
) -> None:
    # GIVEN the stack.json of a stack that was killed (nothing listens on its ports)
    state = tmp_path / "state"
    state.mkdir()
    dead = free_port()
    (state / "stack.json").write_text(
        json.dumps(
            {"websocketUrl": f"ws://127.0.0.1:{dead}", "awsEndpointUrl": f"http://127.0.0.1:{dead}"}
        )
    )
    # WHEN a tool runs THEN it says so in a line, with what to do, and no traceback
    args = ["DefaultFunction", "events/ping.json"] if module.endswith("invoke") else []
    ran = _run_tool(state, module, *args)
    assert ran.returncode != 0
    assert "not running" in ran.stderr and "make run" in ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout


def _tool(
    stack: Stack, module: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return _run_tool(stack.log.parent / "state", module, *args, stdin=stdin)


def _run_tool(
    state_dir: Path, module: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCAL_STATE_DIR": str(state_dir)}
    env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    return subprocess.run(  # noqa: S603 (our own module)
        [sys.executable, "-m", module, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_token_tool_prints_a_token_the_stack_accepts(stack: Stack) -> None:
    printed = _tool(stack, "local_stack.tools.token")
    assert printed.returncode == 0, printed.stderr
    token = printed.stdout.strip()

    async def scenario() -> None:
        async with connect(f"{stack.url}?token={token}") as ws:
            debug = await _ask(ws, {"action": "debug_status"})
            assert debug["connectionInfo"]["isAuthenticated"] is True

    asyncio.run(scenario())


def test_the_chat_client_streams_a_reply(stack: Stack) -> None:
    session = _tool(stack, "local_stack.tools.chat", stdin="Hello from the terminal\n/history\n")
    assert session.returncode == 0, session.stderr
    assert "assistant> You said: Hello from the terminal" in session.stdout
    assert "user: Hello from the terminal" in session.stdout


def test_invoke_runs_one_function_with_an_events_file(stack: Stack) -> None:
    result = _tool(
        stack,
        "local_stack.tools.invoke",
        "AuthorizerFunction",
        "events/authorizer_query_token.json",
    )
    assert result.returncode == 0, result.stderr
    policy = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert policy["context"]["userEmail"] == stack.state["demoUser"]["email"]


def test_invoke_shows_the_frames_a_chat_turn_posts_and_whom_it_acts_for(stack: Stack) -> None:
    result = _tool(stack, "local_stack.tools.invoke", "MessageFunction", "events/chat_message.json")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (
        "Invoking MessageFunction as user 7d8e9f00-1111-4222-8333-944455556666, "
        "connection L0SM9cOFvHcCIhw=, conversation test_1764100800000" in out
    )
    posted = [
        json.loads(line.split(": ", 1)[1])
        for line in out.splitlines()
        if line.startswith("-> L0SM9cOFvHcCIhw=: ")
    ]
    kinds = [frame["type"] for frame in posted]
    assert kinds[0] == "message_received" and kinds[-1] == "ai_response"
    assert "ai_response_chunk" in kinds


def test_invoke_shows_the_pong_a_ping_is_answered_with_on_its_two_way_route(
    stack: Stack,
) -> None:
    result = _tool(stack, "local_stack.tools.invoke", "DefaultFunction", "events/ping.json")
    assert result.returncode == 0, result.stderr
    (line,) = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("-> L0SM9cOFvHcCIhw= (route response): ")
    ]
    pong = json.loads(line.split(": ", 1)[1])
    assert (pong["type"], pong["connectionId"]) == ("pong", "L0SM9cOFvHcCIhw=")
    assert "-> L0SM9cOFvHcCIhw=: " not in result.stdout  # nothing was posted


def test_the_stack_prints_one_readable_line_per_event_and_no_secrets(stack: Stack) -> None:
    token = stack.tokens()["idToken"]
    before = len(stack.log.read_text())

    async def scenario() -> str:
        async with connect(f"{stack.url}?token={token}") as ws:
            frames = await _until_reply(
                ws, {"action": "chat_message", "data": {"message": "LOGVIEW-CANARY words"}}
            )
            return str(frames[0]["conversationId"])

    asyncio.run(scenario())
    eventually(lambda: "closed: 1000" in stack.log.read_text()[before:], what="the close's line")
    added = stack.log.read_text()[before:].splitlines()
    gateway = [line for line in added if " gateway " in line]
    assert any("connected as" in line for line in gateway)
    assert any("chat_message -> MessageFunction" in line and " ok" in line for line in gateway)
    assert any("closed: 1000" in line for line in gateway)
    assert not any('"_aws"' in line for line in added), "metric blobs are a switch away"
    assert all(len(line) < 300 for line in added)
    assert not any(token in line or "LOGVIEW-CANARY" in line for line in added)


async def _until_reply(ws: ClientConnection, frame: dict[str, Any]) -> list[dict[str, Any]]:
    await ws.send(json.dumps(frame))
    return await _until(ws, "ai_response")
