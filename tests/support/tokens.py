"""Cognito-shaped JWTs signed with keys generated in the test run, and their JWKS."""

from __future__ import annotations

import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

REGION = "us-east-1"
POOL_ID = "us-east-1_TestPool1"
CLIENT_ID = "testclientid0123456789abcd"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"
USER_SUB = "7d8e9f00-1111-4222-8333-944455556666"


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class TokenFactory:
    """Mints ID and access tokens the way a Cognito user pool shapes them."""

    def __init__(self, kid: str = "test-key-1") -> None:
        self.kid = kid
        self.private_pem = _rsa_pem()
        public = jwk.construct(self.private_pem, "RS256").public_key().to_dict()
        self.public_jwk: dict[str, Any] = {**public, "kid": kid, "use": "sig", "alg": "RS256"}
        self.other_pem = _rsa_pem()  # a key the JWKS does not hold

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def claims(self, kind: str = "id", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": USER_SUB,
            "iss": ISSUER,
            "token_use": kind,
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
            "jti": "0f7c2a9e-test",
        }
        if kind == "id":
            claims |= {"aud": CLIENT_ID, "email": "ada@example.com", "email_verified": True}
        else:
            claims |= {
                "client_id": CLIENT_ID,
                "scope": "aws.cognito.signin.user.admin",
                "username": USER_SUB,
            }
        claims |= overrides
        return {k: v for k, v in claims.items() if v is not None}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = "default",
        key: bytes | str | None = None,
        algorithm: str = "RS256",
    ) -> str:
        headers = {} if kid is None else {"kid": self.kid if kid == "default" else kid}
        return jwt.encode(claims, key or self.private_pem, algorithm=algorithm, headers=headers)

    def id_token(self, **overrides: Any) -> str:
        return self.sign(self.claims("id", **overrides))

    def access_token(self, **overrides: Any) -> str:
        return self.sign(self.claims("access", **overrides))
