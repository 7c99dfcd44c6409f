"""The AI provider's API key, read from Secrets Manager through Powertools Parameters
and cached per container for ``max_age`` seconds.

Accepts ``{"apiKey": "..."}`` and Junokit's ``{"openRouterApiKey": "..."}``.
"""

from __future__ import annotations

import json

from realtime_chat.errors import AiNotConfigured

__all__ = ["KEY_FIELDS", "SecretApiKey"]

KEY_FIELDS = ("apiKey", "openRouterApiKey")


class SecretApiKey:
    def __init__(self, secret_id: str | None, *, max_age: int) -> None:
        self._secret_id = secret_id
        self._max_age = max_age

    def api_key(self, *, refresh: bool = False) -> str:
        if self._secret_id is None:
            raise AiNotConfigured(
                "The AI is not configured: API_SECRETS_ARN is not set for this function."
            )
        from aws_lambda_powertools.utilities import parameters

        try:
            raw = parameters.get_secret(self._secret_id, max_age=self._max_age, force_fetch=refresh)
        except parameters.exceptions.GetParameterError:
            raise AiNotConfigured(
                f"The AI secret {self._secret_id} could not be read "
                "(missing, or this function may not read it)."
            ) from None
        return _key(raw, self._secret_id)


def _key(raw: object, secret_id: str) -> str:
    expected = f'a JSON object with "{KEY_FIELDS[0]}" (or "{KEY_FIELDS[1]}")'
    try:
        document = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        raise AiNotConfigured(
            f"The AI secret {secret_id} is not JSON: expected {expected}."
        ) from None
    if isinstance(document, dict):
        for name in KEY_FIELDS:
            value = document.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
    raise AiNotConfigured(f"The AI secret {secret_id} has no API key: expected {expected}.")
