"""The handshake's use cases: who may connect, and each refusal a ``Refused`` whose
kind says how API Gateway answers (401, 403, 429)."""

from __future__ import annotations

import pytest

from realtime_chat.domain import Connection, Identity
from realtime_chat.errors import OriginNotAllowed, Refused, TokenRejected, TooManyConnections
from realtime_chat.events import AuthorizerRequest, ConnectRequest, RequestInfo
from realtime_chat.usecases.connection import authorize, connect
from tests.support.fakes import MemoryConnections

NOW_MS = 1_800_000_000_000
ADA = Identity("ada", "ada@example.com", True, NOW_MS // 1000 + 3600)
APP = "https://chat.example.com"


class Verifier:
    """Accepts the token "good" as ada's; refuses every other, as the adapter does."""

    def verify(self, token: str) -> Identity:
        if token != "good":
            raise TokenRejected("token expired")
        return ADA


def _info(connection_id: str = "conn-1") -> RequestInfo:
    return RequestInfo(
        connection_id=connection_id,
        request_id="req-1",
        route_key="$connect",
        domain_name="example.com",
        stage="prod",
        connected_at=NOW_MS,
        request_time=NOW_MS,
        source_ip="203.0.113.1",
    )


def _authorize(token: str | None, origin: str | None = None) -> Identity:
    request = AuthorizerRequest("arn:aws:execute-api:x", token, _info(), origin)
    return authorize(
        request, verifier=Verifier(), allow_anonymous=True, allowed_origins=frozenset({APP})
    )


def test_a_valid_token_proves_the_user_and_no_token_is_anonymous() -> None:
    assert _authorize("good", origin=APP) == ADA
    assert not _authorize(None).is_authenticated


@pytest.mark.parametrize(
    ("token", "origin", "refusal"),
    [
        ("expired", APP, TokenRejected),  # never downgraded to anonymous
        ("good", "https://evil.example", OriginNotAllowed),  # before the token is read
    ],
)
def test_each_refusal_is_a_refused_of_its_own_kind(
    token: str, origin: str, refusal: type[Refused]
) -> None:
    # WHEN the handshake is authorized THEN the caller catching Refused catches it, and
    # its kind says which answer API Gateway gives
    with pytest.raises(Refused) as refused:
        _authorize(token, origin)
    assert type(refused.value) is refusal
    assert refused.value.reason  # for the log


def test_a_user_at_the_connection_cap_is_refused_as_too_many() -> None:
    # GIVEN ada with two open connections, and a cap of two
    expires = NOW_MS // 1000 + 3600
    connections = MemoryConnections(
        Connection("laptop", ADA, NOW_MS, expires), Connection("phone", ADA, NOW_MS, expires)
    )
    # WHEN she connects a third time THEN it is refused, and nothing is stored
    with pytest.raises(TooManyConnections):
        connect(
            ConnectRequest(_info("tablet"), ADA),
            connections=connections,
            allow_anonymous=False,
            max_per_user=2,
        )
    assert set(connections.items) == {"laptop", "phone"}
