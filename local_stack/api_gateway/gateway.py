"""A local API Gateway WebSocket API: the handshake with the ``$connect`` authorizer and
integration, route selection, the ``@connections`` management API and the Lambda Invoke
API on one port, with API Gateway's limits and the frames it sends itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web

from local_stack.api_gateway import events
from local_stack.api_gateway.api_model import ApiModel
from local_stack.api_gateway.console_site import ConsoleSite
from local_stack.lambda_runtime.workers import Invocation

__all__ = ["Gateway", "Limits"]

log = logging.getLogger("local_stack.api_gateway.gateway")

# (function logical id, event) -> its outcome. The Lambda runtime behind it runs each
# function on threads of its own, so a flood of one function never starves another.
Invoke = Callable[[str, dict[str, Any]], Awaitable[Invocation]]


@dataclass(frozen=True)
class Limits:
    frame_bytes: int = 32 * 1024
    post_bytes: int = 128 * 1024
    idle_seconds: float = 600.0
    max_seconds: float = 7200.0
    integration_seconds: float = 29.0


@dataclass
class _Connection:
    facts: events.RequestFacts
    ws: web.WebSocketResponse
    authorizer: dict[str, Any] | None
    last_active: float = field(default_factory=time.monotonic)
    opened: float = field(default_factory=time.monotonic)
    close_reason: str = ""
    # The code the gateway closed with, when it did: what the client got (aiohttp's
    # close_code is what came back, which after a broken frame is 1006).
    close_code: int | None = None


class Gateway:
    def __init__(
        self,
        model: ApiModel,
        invoke: Invoke,
        *,
        function_names: dict[str, str],
        limits: Limits = Limits(),
        api_id: str = "local",
        console: ConsoleSite | None = None,
    ) -> None:
        self.model = model
        self.limits = limits
        self.api_id = api_id
        self._invoke = invoke
        self._function_names = function_names  # function name -> logical id
        self.connections: dict[str, _Connection] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._console = console

    def app(self) -> web.Application:
        app = web.Application(client_max_size=6 * 1024 * 1024)
        app.router.add_post("/2015-03-31/functions/{name}/invocations", self._lambda_invoke)
        app.router.add_route("*", "/{stage}/@connections/{connection_id}", self._manage)
        if self._console is not None:
            self._console.add_routes(app.router)
        app.router.add_get("/", self._websocket)
        app.router.add_get("/{stage}", self._websocket)
        app.on_shutdown.append(self._close_all)
        return app

    # ------------------------------------------------------------ invoking functions
    async def call(self, logical_id: str, event: dict[str, Any]) -> Invocation:
        return await self._invoke(logical_id, event)

    async def _integration(self, logical_id: str, event: dict[str, Any]) -> Invocation | None:
        """Invoke within the 29 s integration timeout; None when it ran out (the
        function keeps running, as it does behind API Gateway)."""
        task = asyncio.ensure_future(self.call(logical_id, event))
        self._keep(task)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.limits.integration_seconds)
        except TimeoutError:
            return None

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------ the WebSocket side
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        stage = request.match_info.get("stage")
        if stage not in (None, self.model.stage):
            return web.json_response({"message": "Forbidden"}, status=403)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if stage is None and self._console is not None:
                return await self._console.index(request)
            return web.json_response({"message": "Expected a WebSocket upgrade"}, status=426)
        if len(str(request.rel_url)) > 4096:
            return web.json_response({"message": "Request-URI Too Long"}, status=414)
        facts = events.RequestFacts(
            connection_id=events.new_connection_id(),
            domain=request.host,
            stage=self.model.stage,
            api_id=self.api_id,
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent", ""),
        )
        request_id = events.new_request_id()
        headers = dict(request.headers)
        query = {k: request.query.getall(k) for k in request.query}
        started = time.monotonic()
        authorizer, refusal = await self._authorize(facts, request_id, headers, query)
        if refusal is not None:
            log.info("handshake refused with %s", refusal.status)
            return refusal
        if "$connect" in self.model.routes:
            event = events.connect_event(facts, request_id, headers, query, authorizer)
            result = await self._integration(self.model.routes["$connect"], event)
            status = _status(result)
            if not 200 <= status < 300:
                log.info("handshake refused with %s by $connect", status)
                return web.json_response({"message": _status_text(status)}, status=status)
        ws = web.WebSocketResponse(max_msg_size=self.limits.frame_bytes, autoping=True)
        await ws.prepare(request)
        who = (authorizer or {}).get("userId") or "anonymous"
        log.info("%s connected as %s (%.0f ms)", facts.connection_id, who, _ms(started))
        connection = _Connection(facts, ws, authorizer)
        self.connections[facts.connection_id] = connection
        watchdog = asyncio.ensure_future(self._watch(connection))
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    connection.last_active = time.monotonic()
                    body = (
                        message.data
                        if message.type == WSMsgType.TEXT
                        else message.data.decode("utf-8", errors="replace")
                    )
                    self._keep(asyncio.ensure_future(self._route_safely(connection, body)))
                elif message.type == WSMsgType.ERROR:
                    if isinstance(message.data, WebSocketError):  # aiohttp closed with its code
                        connection.close_code = message.data.code
                    break
        finally:
            watchdog.cancel()
            self.connections.pop(facts.connection_id, None)
            code = connection.close_code or ws.close_code or WSCloseCode.ABNORMAL_CLOSURE
            reason = connection.close_reason or _close_reason(code)
            log.info("%s closed: %s %s", facts.connection_id, int(code), reason)
            if "$disconnect" in self.model.routes:
                event = events.disconnect_event(facts, int(code), reason, authorizer)
                self._keep(
                    asyncio.ensure_future(self.call(self.model.routes["$disconnect"], event))
                )
        return ws

    async def _authorize(
        self,
        facts: events.RequestFacts,
        request_id: str,
        headers: dict[str, str],
        query: dict[str, list[str]],
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        if self.model.authorizer is None:
            return None, None
        for source in self.model.identity_sources:
            kind, _, name = source.removeprefix("route.request.").partition(".")
            present = (
                query.get(name)
                if kind == "querystring"
                else {k.lower(): v for k, v in headers.items()}.get(name.lower())
            )
            if not present:  # API Gateway answers 401 without calling the authorizer
                return None, web.json_response({"message": "Unauthorized"}, status=401)
        started = time.monotonic()
        event = events.authorizer_event(facts, request_id, headers, query)
        result = await self._integration(self.model.authorizer, event)
        if result is None or not result.ok:
            if result is not None and result.error == "Unauthorized":
                return None, web.json_response({"message": "Unauthorized"}, status=401)
            log.error("authorizer failed: %s", result.error if result else "timed out")
            return None, web.json_response({"message": "Internal server error"}, status=500)
        policy = result.value or {}
        statements = (policy.get("policyDocument") or {}).get("Statement") or []
        if not statements or any(s.get("Effect") != "Allow" for s in statements):
            return None, web.json_response({"message": "Forbidden"}, status=403)
        context = dict(policy.get("context") or {})
        context["principalId"] = policy.get("principalId", "")
        context["integrationLatency"] = int((time.monotonic() - started) * 1000)
        return context, None

    async def _route_safely(self, connection: _Connection, body: str) -> None:
        """Route one frame; a fault of the gateway itself still ends in a defined frame,
        never in a silent hang."""
        try:
            await self._route(connection, body)
        except Exception:
            log.exception("routing a frame failed")
            await self._say(connection, "Internal server error", events.new_request_id())

    async def _route(self, connection: _Connection, body: str) -> None:
        key = "$default"
        parsed_action: object = None
        if self.model.selection_expression == "$request.body.action":
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):  # API Gateway routes such frames to $default
                parsed = None
            action = parsed.get("action") if isinstance(parsed, dict) else None
            parsed_action = action
            if (
                isinstance(action, str)
                and action in self.model.routes
                and not action.startswith("$")
            ):
                key = action
        facts = connection.facts
        function = self.model.routes.get(key)
        event = events.message_event(facts, key, body, connection.authorizer)
        request_id = event["requestContext"]["requestId"]
        if function is None:
            await self._say(connection, "Forbidden", request_id)
            return
        started = time.monotonic()
        # The frame's own task waits for the function (a ping's round trip is a few
        # loop turns shorter than through a second task); at the integration timeout
        # API Gateway answers for it, and whatever the function returns later is dropped.
        deadline = _Deadline()
        timer = asyncio.get_running_loop().call_later(
            self.limits.integration_seconds, self._expire, deadline, connection, request_id
        )
        try:
            result = await self.call(function, event)
        finally:
            timer.cancel()
        if deadline.expired:
            outcome = "timed out"
        elif not result.ok:
            outcome = "failed"
            await self._say(connection, "Internal server error", request_id)
        else:
            outcome = "ok"
            if key in self.model.two_way:
                await self._respond(connection, result.value)
        # Logged once the client has its answer: the line costs the round trip nothing.
        route = key if key != "$default" else f"$default ({_action_name(parsed_action)})"
        log.info(
            "%s %s -> %s %.0f ms %s", facts.connection_id, route, function, _ms(started), outcome
        )
        if not result.ok:
            log.error("%s failed: %s: %s", function, result.error_type, result.error)

    def _expire(self, deadline: _Deadline, connection: _Connection, request_id: str) -> None:
        """The client gets ``Endpoint request timed out``; the function runs on."""
        deadline.expired = True
        self._keep(
            asyncio.ensure_future(self._say(connection, "Endpoint request timed out", request_id))
        )

    async def _respond(self, connection: _Connection, value: Any) -> None:
        """A two-way route's response: a Lambda proxy integration's output is passed
        through with no integration response, its ``body`` becoming the message. A
        return without a body still sends a message, an empty one (as users report of
        API Gateway; our functions always return a body on two-way routes)."""
        body = value.get("body") if isinstance(value, dict) else None
        if not connection.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.ws.send_str(body if isinstance(body, str) else "")

    async def _say(self, connection: _Connection, message: str, request_id: str) -> None:
        """A frame API Gateway itself sends; a socket that is closing cannot take it."""
        if connection.ws.closed:
            return
        frame = {
            "message": message,
            "connectionId": connection.facts.connection_id,
            "requestId": request_id,
        }
        with contextlib.suppress(ConnectionError, RuntimeError):
            await connection.ws.send_str(json.dumps(frame))

    async def _watch(self, connection: _Connection) -> None:
        tick = min(1.0, self.limits.idle_seconds / 4, self.limits.max_seconds / 4)
        while not connection.ws.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - connection.opened >= self.limits.max_seconds:
                connection.close_reason = "Connection duration exceeded"
            elif now - connection.last_active >= self.limits.idle_seconds:
                connection.close_reason = "Idle timeout exceeded"
            else:
                continue
            connection.close_code = WSCloseCode.GOING_AWAY
            await connection.ws.close(
                code=WSCloseCode.GOING_AWAY, message=connection.close_reason.encode()
            )
            return

    async def _close_all(self, _app: web.Application) -> None:
        for connection in list(self.connections.values()):
            connection.close_reason = "Server shutting down"
            connection.close_code = WSCloseCode.GOING_AWAY
            await connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"Going away")

    # ------------------------------------------------------------ @connections
    async def _manage(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["stage"] != self.model.stage:
            return _error(403, "ForbiddenException", "Forbidden")
        connection_id = request.match_info["connection_id"]  # aiohttp URL-decodes it
        connection = self.connections.get(connection_id)
        if connection is None or connection.ws.closed:
            return _error(410, "GoneException", f"Connection {connection_id} is gone")
        if request.method == "POST":
            data = await request.read()
            if len(data) > self.limits.post_bytes:
                return _error(413, "PayloadTooLargeException", "Message too long")
            await connection.ws.send_str(data.decode("utf-8", errors="replace"))
            return web.Response(status=200)
        if request.method == "GET":
            # The wire names (boto3 shows them as ConnectedAt, Identity.SourceIp, ...).
            return web.json_response(
                {
                    "connectedAt": _iso(connection.facts.connected_at / 1000),
                    "identity": {
                        "sourceIp": connection.facts.source_ip,
                        "userAgent": connection.facts.user_agent,
                    },
                    "lastActiveAt": _iso(time.time() - (time.monotonic() - connection.last_active)),
                }
            )
        if request.method == "DELETE":
            connection.close_reason = "Connection deleted through @connections"
            connection.close_code = WSCloseCode.OK
            await connection.ws.close(code=WSCloseCode.OK, message=b"")
            return web.Response(status=204)
        return _error(405, "MethodNotAllowed", "Use POST, GET or DELETE")

    # ------------------------------------------------------------ Lambda Invoke API
    async def _lambda_invoke(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"].rsplit(":", 1)[-1]
        logical_id = self._function_names.get(name)
        if logical_id is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        payload = json.loads(await request.read() or b"{}")
        if request.headers.get("X-Amz-Invocation-Type") == "Event":
            self._keep(asyncio.ensure_future(self._async_invoke(logical_id, payload)))
            return web.Response(status=202)
        result = await self.call(logical_id, payload)
        if result.ok:
            return web.json_response(result.value, status=200)
        return web.json_response(
            {"errorType": result.error_type, "errorMessage": result.error},
            status=200,
            headers={"X-Amz-Function-Error": "Unhandled"},
        )

    async def _async_invoke(self, logical_id: str, payload: dict[str, Any]) -> None:
        result = await self.call(logical_id, payload)
        if not result.ok:  # MaximumRetryAttempts: 0 -- reported, not retried
            log.error("async %s failed: %s: %s", logical_id, result.error_type, result.error)


@dataclass
class _Deadline:
    """A frame's integration timeout: once it expires, API Gateway has answered."""

    expired: bool = False


def _ms(since: float) -> float:
    return (time.monotonic() - since) * 1000


def _action_name(action: object) -> str:
    """An action name fit for a log line: client input, so only a plain identifier."""
    if isinstance(action, str) and re.fullmatch(r"[a-z_]{1,40}", action):
        return action
    return "?"


def _status(result: Invocation | None) -> int:
    if result is None or not result.ok:
        return 500
    value = result.value
    if isinstance(value, dict) and "statusCode" in value:
        try:
            return int(value["statusCode"])
        except (TypeError, ValueError):
            return 500
    return 200


def _status_text(status: int) -> str:
    return {401: "Unauthorized", 403: "Forbidden", 500: "Internal server error"}.get(
        status, "Refused"
    )


def _close_reason(code: int) -> str:
    return {1000: "Normal closure", 1001: "Going away", 1009: "Message too big"}.get(
        code, f"Closed with code {code}"
    )


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": kind}
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
