"""The token signing keys (JWKS): fetched over HTTPS only, cached, refetched for an
unknown kid at most once per 10 s, and an unreachable endpoint is an outage, never a
bad token. Exercised through the verifier, as the authorizer uses them."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from local_stack.loopback import LoopbackServer, send_json
from realtime_chat.adapters.cognito_jwt import CognitoJwtVerifier
from realtime_chat.adapters.jwks import JwksCache, fetch_json
from realtime_chat.errors import ConfigurationError, KeysUnavailable, TokenRejected
from tests.support.tokens import CLIENT_ID, ISSUER, USER_SUB, TokenFactory


def test_unknown_kids_refetch_the_jwks_at_most_once_per_ten_seconds(tokens: TokenFactory) -> None:
    # GIVEN a key set cache on a controllable clock
    fetches: list[str] = []
    now = [1000.0]

    def fetch(url: str) -> dict[str, Any]:
        fetches.append(url)
        return tokens.jwks

    jwks = JwksCache("https://keys.invalid/jwks.json", fetch=fetch, clock=lambda: now[0])
    verifier = CognitoJwtVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=jwks)
    verifier.verify(tokens.id_token())
    # WHEN many tokens with unknown kids arrive within 10 s
    for _ in range(5):
        with pytest.raises(TokenRejected):
            verifier.verify(tokens.sign(tokens.claims("id"), kid="forged"))
    # THEN the key set was fetched once; after 10 s one more refetch is allowed
    assert len(fetches) == 1
    now[0] += 10
    with pytest.raises(TokenRejected):
        verifier.verify(tokens.sign(tokens.claims("id"), kid="forged"))
    assert len(fetches) == 2
    # AND a known kid never triggers a fetch
    verifier.verify(tokens.id_token())
    assert len(fetches) == 2


def test_a_key_endpoint_outage_is_unavailable_not_a_bad_token(tokens: TokenFactory) -> None:
    # GIVEN a key endpoint that is down on the first try, then back
    now = [1000.0]
    answers: list[Any] = [OSError("connection refused"), tokens.jwks]

    def fetch(_url: str) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    jwks = JwksCache("https://keys.invalid/jwks.json", fetch=fetch, clock=lambda: now[0])
    verifier = CognitoJwtVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=jwks)
    # WHEN a valid token arrives during the outage THEN the keys are unavailable (a 500),
    # never a rejection of the token
    with pytest.raises(KeysUnavailable):
        verifier.verify(tokens.id_token())
    # AND within the next second no new fetch is made, the answer stays "unavailable"
    with pytest.raises(KeysUnavailable):
        verifier.verify(tokens.id_token())
    assert answers == [tokens.jwks]
    # WHEN the endpoint is back a second later THEN the same token is accepted at once:
    # the failure started no 10 s refetch penalty
    now[0] += 1
    assert verifier.verify(tokens.id_token()).user_id == USER_SUB


def test_the_last_good_key_set_is_kept_through_an_outage(tokens: TokenFactory) -> None:
    now = [1000.0]
    fetches: list[str] = []

    def fetch(url: str) -> Any:
        fetches.append(url)
        if len(fetches) > 1:
            return {"not": "a key set"}  # a broken endpoint answering 200
        return tokens.jwks

    jwks = JwksCache("https://keys.invalid/jwks.json", fetch=fetch, clock=lambda: now[0])
    verifier = CognitoJwtVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=jwks)
    verifier.verify(tokens.id_token())
    now[0] += 60
    # WHEN an unknown kid makes the cache refetch from the broken endpoint
    with pytest.raises(KeysUnavailable):
        verifier.verify(tokens.sign(tokens.claims("id"), kid="rotated"))
    # THEN tokens signed with the known key still pass
    assert verifier.verify(tokens.id_token()).is_authenticated


@pytest.mark.parametrize(
    "url",
    ["http://cognito-idp.example.com/jwks.json", "ftp://x/jwks.json", "file:///etc/passwd", "x"],
)
def test_keys_are_fetched_over_https_only(url: str) -> None:
    with pytest.raises(ConfigurationError):
        JwksCache(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:4566/pool/.well-known/jwks.json", "http://localhost:1/jwks.json"]
)
def test_plain_http_is_allowed_to_a_loopback_host_only(url: str) -> None:
    JwksCache(url)


def test_a_redirecting_key_endpoint_is_an_outage(tokens: TokenFactory) -> None:
    # GIVEN a key endpoint on 127.0.0.1 that redirects to a key set elsewhere
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/jwks.json":
                self.send_response(302)
                self.send_header("Location", "/elsewhere.json")
                self.end_headers()
            else:
                send_json(self, 200, tokens.jwks)

        def log_message(self, *args: Any) -> None:
            pass

    with LoopbackServer(Handler) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert fetch_json(f"{base}/elsewhere.json") == tokens.jwks
        jwks = JwksCache(f"{base}/jwks.json")
        verifier = CognitoJwtVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=jwks)
        # WHEN a token is verified THEN the redirect is not followed
        with pytest.raises(KeysUnavailable):
            verifier.verify(tokens.id_token())
