"""The JWT matrix: good Cognito ID and access tokens pass; every other token is refused."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from jose import jwt

from realtime_chat.adapters.cognito_jwt import CognitoJwtVerifier
from realtime_chat.adapters.jwks import JwksCache
from realtime_chat.errors import TokenRejected
from tests.support.tokens import CLIENT_ID, ISSUER, USER_SUB, TokenFactory


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def verifier(tokens: TokenFactory) -> CognitoJwtVerifier:
    jwks = JwksCache("https://keys.invalid/jwks.json", fetch=lambda _url: tokens.jwks)
    return CognitoJwtVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=jwks)


def test_a_valid_id_token_proves_the_user_and_their_email(
    verifier: CognitoJwtVerifier, tokens: TokenFactory
) -> None:
    # GIVEN an ID token from the configured pool and app client
    claims = tokens.claims("id")
    # WHEN it is verified
    identity = verifier.verify(tokens.sign(claims))
    # THEN the identity is the token's subject, with email and expiry
    assert identity.user_id == USER_SUB
    assert identity.email == "ada@example.com"
    assert identity.is_authenticated
    assert identity.token_expires_at == claims["exp"]


def test_a_valid_access_token_proves_the_user_without_an_email(
    verifier: CognitoJwtVerifier, tokens: TokenFactory
) -> None:
    identity = verifier.verify(tokens.access_token())
    assert identity.user_id == USER_SUB
    assert identity.email is None
    assert identity.is_authenticated


def _hs256_with_public_key(tokens: TokenFactory) -> str:
    # The classic key-confusion attack: HMAC signed with the RSA public key as secret.
    public_pem = json.dumps(tokens.public_jwk)
    return jwt.encode(
        tokens.claims("id"), public_pem, algorithm="HS256", headers={"kid": tokens.kid}
    )


def _alg_none(tokens: TokenFactory) -> str:
    header = _b64({"alg": "none", "kid": tokens.kid, "typ": "JWT"})
    return f"{header}.{_b64(tokens.claims('id'))}."


# case -> (how to make the token, what the refusal reason must say)
REFUSED: dict[str, tuple[Callable[[TokenFactory], str], str]] = {
    "signed by a key not in the JWKS": (
        lambda t: t.sign(t.claims("id"), key=t.other_pem),
        "Signature verification failed",
    ),
    "tampered payload": (
        lambda t: (
            lambda parts: f"{parts[0]}.{_b64(t.claims('id', sub='someone-else'))}.{parts[2]}"
        )(t.id_token().split(".")),
        "Signature verification failed",
    ),
    "alg HS256 with the public key": (_hs256_with_public_key, "not RS256"),
    "alg none": (_alg_none, "not RS256"),
    "unknown kid": (lambda t: t.sign(t.claims("id"), kid="rotated-away"), "unknown kid"),
    "no kid": (lambda t: t.sign(t.claims("id"), kid=None), "no kid"),
    "expired": (
        lambda t: t.id_token(exp=int(time.time()) - 5, iat=int(time.time()) - 3600),
        "expired",
    ),
    "nbf in the future": (lambda t: t.id_token(nbf=int(time.time()) + 600), "nbf"),
    "no exp": (lambda t: t.id_token(exp=None), '"exp"'),
    "wrong issuer": (
        lambda t: t.id_token(iss="https://cognito-idp.us-east-1.amazonaws.com/other"),
        "Invalid issuer",
    ),
    "id token for another client": (
        lambda t: t.id_token(aud="another-client"),
        "another app client",
    ),
    "access token for another client": (
        lambda t: t.access_token(client_id="another-client"),
        "another app client",
    ),
    "id token without aud": (lambda t: t.id_token(aud=None), "another app client"),
    "id token whose aud list leaves the client out": (
        lambda t: t.id_token(aud=["another-client"]),
        "another app client",
    ),
    "access token without client_id": (
        lambda t: t.access_token(client_id=None),
        "another app client",
    ),
    "no token_use": (lambda t: t.id_token(token_use=None), "token_use"),
    "refresh token_use": (lambda t: t.sign(t.claims("id", token_use="refresh")), "token_use"),
    "no sub": (lambda t: t.id_token(sub=None), "no sub"),
    "empty sub": (lambda t: t.id_token(sub=""), "no sub"),
    "malformed": (lambda _t: "not-a-jwt", "malformed"),
    "three garbage segments": (lambda _t: "abc.def.ghi", "malformed"),
    "JWE-shaped (five segments)": (lambda t: t.id_token() + ".x.y", "malformed"),
    "longer than 4096 characters": (lambda t: t.id_token(padding="x" * 4096), "4096"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_bad_token_is_refused(
    case: str, verifier: CognitoJwtVerifier, tokens: TokenFactory
) -> None:
    # GIVEN a token that is wrong in exactly one way
    make, reason = REFUSED[case]
    token = make(tokens)
    # WHEN it is verified THEN it is refused, for that reason
    with pytest.raises(TokenRejected) as refused:
        verifier.verify(token)
    assert reason in refused.value.reason


def test_the_verifiers_own_clock_refuses_a_token_at_its_expiry(tokens: TokenFactory) -> None:
    # GIVEN a token valid for an hour by the JWT library's clock
    claims = tokens.claims("id")
    token = tokens.sign(claims)
    jwks = JwksCache("https://keys.invalid/jwks.json", fetch=lambda _url: tokens.jwks)

    def verifier_at(moment: float) -> CognitoJwtVerifier:
        return CognitoJwtVerifier(
            issuer=ISSUER, client_id=CLIENT_ID, jwks=jwks, clock=lambda: moment
        )

    # WHEN our clock reads one second before exp THEN it passes
    assert verifier_at(claims["exp"] - 1).verify(token).user_id == USER_SUB
    # WHEN our clock reads exp exactly (a skewed container) THEN it is refused
    with pytest.raises(TokenRejected, match="expired"):
        verifier_at(claims["exp"]).verify(token)
