"""Cognito JWT verification: the one module that knows the JWT library (python-jose).

Used defensively because of python-jose 3.5.0's open advisories: RS256 only, the
key chosen by ``kid`` from the pool's JWKS (never from the token), no JWE, ``exp``
required, and ``token_use`` plus the app client id checked explicitly (python-jose
skips ``aud`` when a token has none, as Cognito access tokens do).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from jose import jwt
from jose.exceptions import ExpiredSignatureError, JOSEError

from realtime_chat.adapters.jwks import JwksCache
from realtime_chat.domain import Identity
from realtime_chat.errors import TokenRejected

__all__ = ["MAX_TOKEN_CHARS", "CognitoJwtVerifier"]

# API Gateway bounds the connect URL to 4096 characters; a longer "token" is not one.
MAX_TOKEN_CHARS = 4096
_ALGORITHM = "RS256"


class CognitoJwtVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        jwks: JwksCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuer = issuer
        self._client_id = client_id
        self._jwks = jwks
        self._clock = clock

    def verify(self, token: str) -> Identity:
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("token longer than 4096 characters")
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError:
            raise TokenRejected("malformed token") from None
        if header.get("alg") != _ALGORITHM:
            raise TokenRejected(f"algorithm {header.get('alg')!r} is not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenRejected("token header has no kid")
        key = self._jwks.key(kid)
        if key is None:
            raise TokenRejected("unknown kid")
        claims = self._decode(token, key)
        self._check_audience(claims)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRejected("token has no sub")
        email = claims.get("email")
        return Identity(
            user_id=subject,
            email=email if isinstance(email, str) else None,
            is_authenticated=True,
            token_expires_at=int(claims["exp"]),
        )

    def _decode(self, token: str, key: dict[str, Any]) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                options={
                    "verify_aud": False,  # checked below, per token_use
                    "verify_at_hash": False,
                    "require_exp": True,
                    "require_iat": False,
                    "leeway": 0,
                },
            )
        except ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except JOSEError as err:
            raise TokenRejected(f"token invalid: {err}") from None
        # python-jose checks exp against its own clock; check ours too (tests, skew).
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= self._clock():
            raise TokenRejected("token expired")
        return claims

    def _check_audience(self, claims: dict[str, Any]) -> None:
        use = claims.get("token_use")
        if use == "id":
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            if self._client_id not in audiences:
                raise TokenRejected("id token for another app client")
        elif use == "access":
            if claims.get("client_id") != self._client_id:
                raise TokenRejected("access token for another app client")
        else:
            raise TokenRejected(f"token_use {use!r} is neither id nor access")
