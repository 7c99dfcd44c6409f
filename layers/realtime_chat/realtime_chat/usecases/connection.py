"""Connection lifecycle: authorize and record at ``$connect``, forget at ``$disconnect``."""

from __future__ import annotations

from dataclasses import dataclass

from realtime_chat.errors import TokenRejected
from realtime_chat.events import AuthorizerRequest, ConnectRequest, DisconnectRequest
from realtime_chat.model import Connection, Identity
from realtime_chat.ports import ConnectionStore, TokenVerifier
from realtime_chat.settings import MAX_CONNECTION_SECONDS

__all__ = ["Refused", "authorize", "connect", "disconnect"]


@dataclass(frozen=True, slots=True)
class Refused(Exception):
    """The handshake is refused; ``reason`` is for the log only."""

    reason: str


def authorize(
    request: AuthorizerRequest, *, verifier: TokenVerifier, allow_anonymous: bool
) -> Identity:
    """The identity to attach to the connection, or ``Refused``.

    No token: anonymous, if allowed. A token that fails verification is refused,
    never downgraded to anonymous: the client learns at once that it must sign in again.
    """
    if request.token is None:
        if allow_anonymous:
            return Identity.anonymous()
        raise Refused("no token and anonymous connections are not allowed")
    try:
        return verifier.verify(request.token)
    except TokenRejected as rejected:
        raise Refused(rejected.reason) from None


def connect(
    request: ConnectRequest, *, connections: ConnectionStore, allow_anonymous: bool
) -> Connection:
    """Record the connection with the identity the authorizer attached."""
    identity = request.identity
    if identity is None:
        if not allow_anonymous:
            raise Refused("no authorizer context and anonymous connections are not allowed")
        identity = Identity.anonymous()
    connected_at = request.info.connected_at or request.info.request_time
    connection = Connection(
        connection_id=request.info.connection_id,
        identity=identity,
        connected_at=connected_at,
        expires_at=connected_at // 1000 + MAX_CONNECTION_SECONDS,
    )
    connections.save(connection)
    return connection


def disconnect(request: DisconnectRequest, *, connections: ConnectionStore) -> None:
    connections.delete(request.info.connection_id)
