"""Route one inbound frame to its use case and turn every failure into an honest ``error`` frame.

A ``Route`` parses the frame's ``data`` into a typed command and runs the use
case. ``ChatError`` becomes its own error frame; anything unexpected is logged
with the request id and answered ``INTERNAL_ERROR`` without details. The
connection stays open either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from realtime_chat import frames
from realtime_chat.errors import ChatError, ConnectionGone, DeliveryFailed, ErrorCode
from realtime_chat.events import MessageRequest
from realtime_chat.observability import logger as log
from realtime_chat.ports import Clock, ConnectionStore, FrameSender, FrameSenders
from realtime_chat.protocol import ClientFrame, check_text, decode_frame, is_text
from realtime_chat.usecases.context import Context

__all__ = ["ACTIONS", "TWO_WAY_ROUTES", "Dispatcher", "Outcome", "Route"]


# Every action of protocol v1, in the order the UNKNOWN_ACTION error names them.
ACTIONS = (
    "ping",
    "debug_status",
    "chat_message",
    "chat_history",
    "list_conversations",
    "rename_conversation",
    "delete_conversation",
    "stop_reply",
    "regenerate_reply",
    "edit_message",
    "message_versions",
    "list_models",
    "chat_typing",
    "user_status",
    "subscribe_notifications",
)

# Routes that template.yaml gives a route response: API Gateway delivers what the
# integration returns to the client, so the answer needs no ``@connections`` post (a
# client round trip shorter by one HTTPS call, and one API call less per ping).
TWO_WAY_ROUTES = frozenset({"ping"})

Route = Callable[[Context, Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one frame: the action (when known) and the error code sent, if any."""

    action: str | None
    error: ErrorCode | None = None
    response: dict[str, Any] | None = None  # the frame for the route response (two-way)


class _RouteResponse:
    """The sender of a two-way route: the request's last frame to its own connection
    becomes the integration's response, which API Gateway delivers after the function
    returns. Any earlier frame to it, and every frame to other connections, is posted
    when sent, so the client still sees them in order. The ``@connections`` client is
    made only if something is posted."""

    def __init__(self, connection_id: str, posting: Callable[[], FrameSender]) -> None:
        self._connection_id = connection_id
        self._posting = posting
        self.held: dict[str, Any] | None = None

    def send(self, connection_id: str, frame: dict[str, Any]) -> None:
        if connection_id != self._connection_id:
            self._posting().send(connection_id, frame)
            return
        if self.held is not None:
            self._posting().send(connection_id, self.held)
        self.held = frame


class Dispatcher:
    """Handles frames for the actions in ``routes``; built once per function."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        *,
        senders: FrameSenders,
        connections: ConnectionStore,
        clock: Clock,
        callback_url: str | None = None,
    ) -> None:
        self._routes = routes
        self._senders = senders
        # Overrides the endpoint derived from each event: for a custom domain mapped
        # at its root, or the local gateway.
        self._callback_url = callback_url
        self._connections = connections
        self._clock = clock

    def handle(self, request: MessageRequest) -> Outcome:
        url = self._callback_url or request.info.callback_url
        answer: _RouteResponse | None = None
        sender: FrameSender
        if request.info.route_key in TWO_WAY_ROUTES:
            sender = answer = _RouteResponse(
                request.info.connection_id, lambda: self._senders.at(url)
            )
        else:
            sender = self._senders.at(url)
        ctx = Context(
            connection_id=request.info.connection_id,
            request_id=request.info.request_id,
            identity=request.identity,
            connected_at=request.info.connected_at,
            now=self._clock(),
            sender=sender,
            callback_url=url,
        )
        outcome = self._outcome(ctx, request)
        if answer is not None and answer.held is not None:
            return Outcome(outcome.action, outcome.error, response=answer.held)
        return outcome

    def _outcome(self, ctx: Context, request: MessageRequest) -> Outcome:
        frame: ClientFrame | None = None
        try:
            frame = decode_frame(request.body)
            check_text(frame)
            route = self._routes.get(frame.action)
            if route is None:
                raise _unknown(frame.action)
            route(ctx, frame.data)
            return Outcome(frame.action)
        except ChatError as err:
            self._answer(ctx, err, frame)
            return Outcome(frame.action if frame and is_text(frame.action) else None, err.code)
        except ConnectionGone:
            # The sender itself went away mid-request: forget it.
            self._connections.delete(ctx.connection_id)
            return Outcome(frame.action if frame else None)
        except Exception:
            action = frame.action if frame else None
            log.exception("unexpected failure handling %s", action)
            internal = ChatError.internal("Something went wrong on our side.", ctx.request_id)
            self._answer(ctx, internal, frame)
            return Outcome(action, ErrorCode.INTERNAL_ERROR)

    def _answer(self, ctx: Context, err: ChatError, request: ClientFrame | None) -> None:
        """Send the error frame, naming the client's own message id when it sent one,
        so a client can tell which of its messages was refused."""
        action = request.action if request and is_text(request.action) else None
        frame = frames.error(err, action=action, request_id=ctx.request_id)
        client_message_id = request.data.get("clientMessageId") if request else None
        if is_text(client_message_id):
            frame["clientMessageId"] = client_message_id
        try:
            ctx.reply(frame)
        except ConnectionGone:
            self._connections.delete(ctx.connection_id)
        except DeliveryFailed as err:
            log.warning(
                "could not deliver %s error frame: %s", frame.get("code"), type(err).__name__
            )


def _unknown(action: str) -> ChatError:
    shown = action if len(action) <= 64 else action[:64] + "…"
    return ChatError(
        ErrorCode.UNKNOWN_ACTION,
        f"Unknown action '{shown}'. Supported actions: {', '.join(ACTIONS)}.",
        field="action",
        extra={"supportedActions": list(ACTIONS)},
    )
