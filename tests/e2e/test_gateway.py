"""The local gateway's API Gateway behaviours over real sockets, with scripted functions:
handler crashes, integration timeouts, refusals at the handshake, routing, @connections."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import boto3
import pytest
import websockets
from aiohttp import web
from websockets.asyncio.client import connect

from local_stack.api_gateway.api_model import ApiModel
from local_stack.api_gateway.gateway import Gateway, Limits
from local_stack.lambda_runtime.workers import Invocation
from tests.e2e.conftest import free_port
from tests.support.waiting import eventually_async

pytestmark = pytest.mark.e2e

Script = dict[str, Callable[[dict[str, Any]], Invocation]]


def _ok(_event: dict[str, Any]) -> Invocation:
    return Invocation(value={"statusCode": 200})


def _authorize(event: dict[str, Any]) -> Invocation:
    token = (event.get("queryStringParameters") or {}).get("token")
    if token == "bad":
        return Invocation(error_type="Exception", error="Unauthorized")
    effect = "Deny" if token == "deny" else "Allow"
    return Invocation(
        value={
            "principalId": "ada",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": effect,
                        "Resource": event["methodArn"],
                    }
                ],
            },
            "context": {"userId": "ada", "isAuthenticated": True},
        }
    )


# The integration timeout of these gateways, and a function that outlasts it. Generous:
# on two busy cores even a quick authorizer once took 0.3 s through its thread.
TIMEOUT = 1.5


def _slow(_event: dict[str, Any]) -> Invocation:
    time.sleep(2 * TIMEOUT)
    return Invocation(value={"statusCode": 200})


def _crash(_event: dict[str, Any]) -> Invocation:
    return Invocation(error_type="ZeroDivisionError", error="division by zero")


@asynccontextmanager
async def gateway(
    routes: dict[str, str],
    script: Script,
    *,
    default: bool = True,
    seen: list[dict[str, Any]] | None = None,
    two_way: frozenset[str] = frozenset(),
) -> AsyncIterator[tuple[Gateway, str]]:
    model = ApiModel(
        stage="test",
        selection_expression="$request.body.action",
        routes={**routes, **({"$default": "crash"} if default else {})},
        authorizer="authorizer",
        identity_sources=(),
        two_way=two_way,
    )

    async def invoke(function: str, event: dict[str, Any]) -> Invocation:
        if seen is not None:
            seen.append({"function": function, **event})
        return await asyncio.to_thread(script[function], event)

    gw = Gateway(model, invoke, function_names={}, limits=Limits(integration_seconds=TIMEOUT))
    runner = web.AppRunner(gw.app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield gw, f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _answer(event: dict[str, Any]) -> Invocation:
    return Invocation(value={"statusCode": 200, "body": f"answer to {event['body']}"})


SCRIPT: Script = {
    "authorizer": _authorize,
    "ok": _ok,
    "slow": _slow,
    "crash": _crash,
    "answer": _answer,
}


def test_a_two_way_route_sends_the_body_its_function_returns_and_one_way_routes_do_not() -> None:
    async def scenario() -> None:
        routes = {"$connect": "ok", "ask": "answer", "tell": "answer", "quiet": "ok"}
        async with (
            gateway(routes, SCRIPT, two_way=frozenset({"ask", "quiet"})) as (_gw, host),
            connect(f"ws://{host}") as ws,
        ):
            # WHEN a one-way route's function returns a body, THEN the client gets nothing
            await ws.send(json.dumps({"action": "tell"}))
            # WHEN a two-way route's function returns one, THEN the client gets it as is
            await ws.send(json.dumps({"action": "ask"}))
            assert await asyncio.wait_for(ws.recv(), 5) == 'answer to {"action": "ask"}'
            # WHEN a two-way route's function returns no body, THEN an empty message
            await ws.send(json.dumps({"action": "quiet"}))
            assert await asyncio.wait_for(ws.recv(), 5) == ""
            # AND a failing function on any route gets API Gateway's own frame
            await ws.send(json.dumps({"action": "other"}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["message"] == "Internal server error"

    asyncio.run(scenario())


def test_a_crashing_handler_gives_api_gateways_internal_server_error_frame() -> None:
    async def scenario() -> None:
        async with (
            gateway({"$connect": "ok"}, SCRIPT) as (_gw, host),
            connect(f"ws://{host}/test") as ws,
        ):
            await ws.send(json.dumps({"action": "anything"}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["message"] == "Internal server error"
            assert set(frame) == {"message", "connectionId", "requestId"}
            await ws.send("still open?")
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["message"]

    asyncio.run(scenario())


def test_a_slow_integration_gives_endpoint_request_timed_out_and_its_late_answer_is_dropped() -> (
    None
):
    async def scenario() -> None:
        routes = {"$connect": "ok", "slow": "slow"}
        async with (
            gateway(routes, SCRIPT, two_way=frozenset({"slow"})) as (_gw, host),
            connect(f"ws://{host}") as ws,
        ):
            # GIVEN a two-way route whose function answers after the integration timeout
            await ws.send(json.dumps({"action": "slow"}))
            # THEN API Gateway answers at the timeout
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["message"] == "Endpoint request timed out"
            # AND the function's own answer, when it comes, is not sent
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), TIMEOUT + 0.5)

    asyncio.run(scenario())


def test_no_matching_route_and_no_default_is_forbidden() -> None:
    async def scenario() -> None:
        async with (
            gateway({"$connect": "ok"}, SCRIPT, default=False) as (_gw, host),
            connect(f"ws://{host}") as ws,
        ):
            await ws.send(json.dumps({"action": "nowhere"}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["message"] == "Forbidden"

    asyncio.run(scenario())


@pytest.mark.parametrize(("token", "status"), [("bad", 401), ("deny", 403)])
def test_the_authorizer_refuses_the_handshake(token: str, status: int) -> None:
    async def scenario() -> None:
        seen: list[dict[str, Any]] = []
        async with gateway({"$connect": "ok"}, SCRIPT, seen=seen) as (_gw, host):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with connect(f"ws://{host}?token={token}"):
                    pass
            assert refused.value.response.status_code == status
        assert [e["function"] for e in seen] == ["authorizer"]  # $connect never ran

    asyncio.run(scenario())


def test_a_non_2xx_connect_refuses_the_upgrade_with_that_status() -> None:
    script = {**SCRIPT, "teapot": lambda _e: Invocation(value={"statusCode": 418})}

    async def scenario() -> None:
        async with gateway({"$connect": "teapot"}, script) as (_gw, host):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with connect(f"ws://{host}"):
                    pass
            assert refused.value.response.status_code == 418

    asyncio.run(scenario())


def test_events_have_api_gateways_shape_and_carry_the_authorizer_context() -> None:
    async def scenario() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        routes = {"$connect": "ok", "go": "ok", "$disconnect": "ok"}
        async with gateway(routes, SCRIPT, seen=seen) as (_gw, host):
            async with connect(f"ws://{host}/test?token=good&x=1") as ws:
                await ws.send(json.dumps({"action": "go"}))
                await _until(lambda: len(seen) == 3, "the frame's event")
            await _until(lambda: len(seen) == 4, "the $disconnect event")
        return seen

    seen = asyncio.run(scenario())
    authorizer, connect_event, message, disconnect = seen
    assert authorizer["type"] == "REQUEST" and authorizer["methodArn"].endswith("/test/$connect")
    assert connect_event["queryStringParameters"] == {"token": "good", "x": "1"}
    context = connect_event["requestContext"]
    assert (context["routeKey"], context["eventType"], context["stage"]) == (
        "$connect",
        "CONNECT",
        "test",
    )
    assert context["authorizer"]["userId"] == "ada"
    assert context["authorizer"]["principalId"] == "ada"
    assert message["requestContext"]["routeKey"] == "go"
    assert message["requestContext"]["authorizer"]["userId"] == "ada"
    assert message["body"] == json.dumps({"action": "go"})
    assert disconnect["requestContext"]["eventType"] == "DISCONNECT"
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1000
    ids = {e["requestContext"]["connectionId"] for e in seen}
    assert len(ids) == 1 and len(ids.pop()) == 16


def test_connections_api_works_with_the_unchanged_boto3_client() -> None:
    async def scenario() -> None:
        async with (
            gateway({"$connect": "ok"}, SCRIPT) as (gw, host),
            connect(f"ws://{host}/test") as ws,
        ):
            await _until(lambda: len(gw.connections) == 1, "the connection registered")
            (connection_id,) = gw.connections
            client = boto3.client(
                "apigatewaymanagementapi",
                endpoint_url=f"http://{host}/test",
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            loop = asyncio.get_running_loop()

            def post(cid: str, data: bytes) -> Any:
                return client.post_to_connection(ConnectionId=cid, Data=data)

            await loop.run_in_executor(None, post, connection_id, b'{"hello":1}')
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"hello": 1}
            info = await loop.run_in_executor(
                None, lambda: client.get_connection(ConnectionId=connection_id)
            )
            assert info["Identity"]["SourceIp"] == "127.0.0.1"
            with pytest.raises(client.exceptions.GoneException):
                await loop.run_in_executor(None, post, "NotAConnection=", b"x")
            with pytest.raises(client.exceptions.PayloadTooLargeException):
                await loop.run_in_executor(None, post, connection_id, b"x" * (128 * 1024 + 1))
            await loop.run_in_executor(
                None, lambda: client.delete_connection(ConnectionId=connection_id)
            )
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)

    asyncio.run(scenario())


async def _until(check: Callable[[], bool], what: str) -> None:
    async def holds() -> bool:
        return check()

    await eventually_async(holds, what=what)
