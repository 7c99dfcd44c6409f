"""Connection lifecycle: authorize and record at ``$connect``, forget at ``$disconnect``."""

from __future__ import annotations

from realtime_chat.domain import Connection, Identity
from realtime_chat.errors import OriginNotAllowed, Refused, TooManyConnections
from realtime_chat.events import AuthorizerRequest, ConnectRequest, DisconnectRequest
from realtime_chat.ports import ConnectionStore, TokenVerifier
from realtime_chat.settings import MAX_CONNECTION_SECONDS

__all__ = ["authorize", "connect", "disconnect"]


def authorize(
    request: AuthorizerRequest,
    *,
    verifier: TokenVerifier,
    allow_anonymous: bool,
    allowed_origins: frozenset[str] = frozenset(),
) -> Identity:
    """The identity to attach to the connection; raises a ``Refused``.

    An ``Origin`` outside a non-empty allow-list is refused before the token is read
    (``OriginNotAllowed``; no ``Origin``: not a browser, allowed). No token: anonymous,
    if allowed. A token that fails verification is refused (the verifier's
    ``TokenRejected``), never downgraded to anonymous: the client learns at once that
    it must sign in again.
    """
    browser = request.origin is not None
    if allowed_origins and browser and request.origin not in allowed_origins:
        raise OriginNotAllowed(f"origin {request.origin!r} is not in AllowedOrigins")
    if request.token is None:
        if allow_anonymous:
            return Identity.anonymous()
        raise Refused("no token and anonymous connections are not allowed")
    return verifier.verify(request.token)


def connect(
    request: ConnectRequest,
    *,
    connections: ConnectionStore,
    allow_anonymous: bool,
    max_per_user: int = 0,
) -> Connection:
    """Record the connection with the identity the authorizer attached; raises a
    ``Refused`` (``TooManyConnections`` at the cap).

    A signed-in user with ``max_per_user`` open connections already (0: no cap) is
    refused. Two connects of the same user at the same instant may both pass: the
    cap bounds spend, it is not a lock.
    """
    identity = request.identity
    if identity is None:
        if not allow_anonymous:
            raise Refused("no authorizer context and anonymous connections are not allowed")
        identity = Identity.anonymous()
    connected_at = request.info.connected_at or request.info.request_time
    if identity.is_authenticated and max_per_user:
        open_now = connections.connections_of(identity.user_id, now=connected_at / 1000)
        if len(open_now) >= max_per_user:
            raise TooManyConnections(
                f"user has {len(open_now)} open connections (MaxConnectionsPerUser {max_per_user})"
            )
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
