"""The AI provider's API key, read from Secrets Manager and cached per container for
``max_age`` seconds.

Accepts ``{"apiKey": "..."}`` and Junokit's ``{"openRouterApiKey": "..."}``. Two kinds
of failure are kept apart, because they ask different things of different people:

- ``AiNotConfigured``: the secret is missing, unreadable by this function or holds
  no key. An operator must act; retrying does not help.
- ``SecretUnavailable``: Secrets Manager could not be reached or was throttled.
  The user may simply retry.

Error messages name the secret for the log; what clients see is ``public``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from realtime_chat.errors import AiNotConfigured, SecretUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = ["KEY_FIELDS", "SecretApiKey"]

KEY_FIELDS = ("apiKey", "openRouterApiKey")
# Answers that mean the secret is not there for us, whatever we retry.
_NOT_CONFIGURED = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "DecryptionFailure",
        "InvalidRequestException",  # e.g. the secret is scheduled for deletion
        "InvalidParameterException",
    }
)
_EXPECTED = f'a JSON object with "{KEY_FIELDS[0]}" (or "{KEY_FIELDS[1]}")'
_PUT_A_KEY = f'An operator must put {{"{KEY_FIELDS[0]}": "<key>"}} into the AI secret.'


class SecretApiKey:
    def __init__(
        self,
        client: Callable[[], SecretsManagerClient],
        secret_id: str | None,
        *,
        max_age: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client  # created on first use: accepting a message never needs it
        self._secret_id = secret_id
        self._max_age = max_age
        self._clock = clock
        self._cached: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def api_key(self, *, refresh: bool = False) -> str:
        if self._secret_id is None:
            raise AiNotConfigured(
                "API_SECRETS_ARN is not set for this function.",
                public="The AI is not configured on this deployment.",
            )
        with self._lock:
            now = self._clock()
            if self._cached and not refresh and now - self._cached[1] < self._max_age:
                return self._cached[0]
            key = _key(self._read(self._secret_id), self._secret_id)
            self._cached = (key, now)
            return key

    def _read(self, secret_id: str) -> str | bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value = self._client().get_secret_value(SecretId=secret_id)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in _NOT_CONFIGURED:
                raise AiNotConfigured(
                    f"The AI secret {secret_id} could not be read ({code}): missing, "
                    "or this function may not read it.",
                    public="The AI secret could not be read. " + _PUT_A_KEY,
                ) from None
            raise SecretUnavailable(f"Secrets Manager answered {code}") from None
        except BotoCoreError as err:  # unreachable, timed out
            raise SecretUnavailable(f"{type(err).__name__}: {err}") from None
        return value.get("SecretString") or value.get("SecretBinary") or b""


def _key(raw: str | bytes, secret_id: str) -> str:
    try:
        document = json.loads(raw)
    except ValueError:
        raise AiNotConfigured(
            f"The AI secret {secret_id} is not JSON: expected {_EXPECTED}.",
            public=f"The AI secret is not JSON: it must be {_EXPECTED}. {_PUT_A_KEY}",
        ) from None
    if isinstance(document, dict):
        for name in KEY_FIELDS:
            value = document.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
    raise AiNotConfigured(
        f"The AI secret {secret_id} has no API key: expected {_EXPECTED}.",
        public=f"The AI secret has no API key. {_PUT_A_KEY}",
    )
