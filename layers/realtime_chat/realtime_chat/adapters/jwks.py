"""A JSON Web Key Set fetched over HTTPS and cached per container.

An unknown ``kid`` (keys rotated since the last fetch) triggers a refetch, at most
once per ``min_refetch_seconds``, so a flood of forged kids cannot turn into a
flood of requests to the key endpoint.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

__all__ = ["JwksCache", "fetch_json"]


def fetch_json(url: str, timeout: float = 3.0) -> Any:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"JWKS URL must be http(s): {url!r}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked)
        return json.loads(response.read())


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        fetch: Callable[[str], Any] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
        min_refetch_seconds: float = 10.0,
    ) -> None:
        self._url = url
        self._fetch = fetch
        self._clock = clock
        self._min_refetch = min_refetch_seconds
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> dict[str, Any] | None:
        """The JWK with this ``kid``, refetching the set once if it is not known."""
        with self._lock:
            if kid not in self._keys and self._may_refetch():
                self._refresh()
            return self._keys.get(kid)

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._min_refetch

    def _refresh(self) -> None:
        self._fetched_at = self._clock()
        document = self._fetch(self._url)
        keys = document.get("keys", []) if isinstance(document, dict) else []
        self._keys = {
            k["kid"]: k
            for k in keys
            if isinstance(k, dict) and isinstance(k.get("kid"), str) and k.get("kty") == "RSA"
        }
