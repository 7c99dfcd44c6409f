"""A JSON Web Key Set fetched over HTTPS and cached per container.

An unknown ``kid`` (keys rotated since the last fetch) triggers a refetch, at most
once per ``min_refetch_seconds`` after a successful fetch, so a flood of forged kids
cannot turn into a flood of requests to the key endpoint.

An outage is not a bad token: when the key endpoint cannot be reached (or answers
something that is not a key set), the last good set is kept, no refetch penalty
starts, and :class:`~realtime_chat.errors.KeysUnavailable` is raised so the handshake
fails as a server error (500), never as 401 "sign in again". Failed fetches are
retried at most once per ``retry_after_failure_seconds``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from realtime_chat.errors import ConfigurationError, KeysUnavailable

__all__ = ["JwksCache", "check_jwks_url", "fetch_json"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_MAX_BYTES = 256 * 1024  # a key set is a few KB


def check_jwks_url(url: str) -> str:
    """HTTPS only; plain HTTP only to a loopback host (the local stack's embedded Cognito)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise ConfigurationError(
        f"JWKS_URL must be an https:// URL (plain http only to a loopback host): {url!r}"
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could send the key request anywhere: treat it as a failure."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def fetch_json(url: str, timeout: float = 2.0) -> Any:
    check_jwks_url(url)
    with _OPENER.open(url, timeout=timeout) as response:
        return json.loads(response.read(_MAX_BYTES + 1)[:_MAX_BYTES])


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        fetch: Callable[[str], Any] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
        min_refetch_seconds: float = 10.0,
        retry_after_failure_seconds: float = 1.0,
    ) -> None:
        self._url = check_jwks_url(url)  # at cold start: a bad URL is a configuration error
        self._fetch = fetch
        self._clock = clock
        self._min_refetch = min_refetch_seconds
        self._retry_after_failure = retry_after_failure_seconds
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> dict[str, Any] | None:
        """The JWK with this ``kid``, refetching the set once if it is not known; None
        when the current set does not have it. Raises ``KeysUnavailable`` when the set
        is needed and cannot be fetched."""
        with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self._min_refetch:
                return None
            if self._failed_at is not None and now - self._failed_at < self._retry_after_failure:
                raise KeysUnavailable("the key set failed to load moments ago")
            self._refresh(now)
            return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        try:
            document = self._fetch(self._url)
            keys = _rsa_keys(document)
        except Exception as err:  # any failure to get a key set is an outage, not a verdict
            self._failed_at = now
            raise KeysUnavailable(f"{type(err).__name__}: {err}") from None
        self._keys, self._fetched_at, self._failed_at = keys, now, None


def _rsa_keys(document: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the response is not a JSON Web Key Set")
    return {
        k["kid"]: k
        for k in document["keys"]
        if isinstance(k, dict) and isinstance(k.get("kid"), str) and k.get("kty") == "RSA"
    }
