"""Every error the backend knows, as codes the client sees and exceptions the code raises.

Hierarchy::

    ChatError                 a request the client must be told about (becomes an ``error`` frame)
    ConfigurationError        a missing or invalid setting, raised at cold start
    TokenRejected             a token that failed verification (``$connect`` answers 401)
    KeysUnavailable           the token signing keys could not be fetched (``$connect`` answers 500)
    ConnectionGone            ``@connections`` answered 410: the client is gone
    ConnectionThrottled       ``@connections`` kept answering 429 after retries
    FrameTooLarge             ``@connections`` refused a frame over 128 KB (413)
    ConversationNotFound      the user has no conversation with that id
        TurnConversationDeleted   a retried ``clientMessageId``'s turn is in a deleted conversation
    AiNotConfigured           the API key is missing from the secret, or unreadable
    SecretUnavailable         Secrets Manager could not be reached (retryable)
    ModelError                the AI provider failed
        ModelRejectedKey      the provider answered 401/403 to our key
        ModelUnavailable      429/5xx/timeouts after retries, or the stream broke
        ModelNotConfigured    the provider refused the request as set up (no model access)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "AiNotConfigured",
    "ChatError",
    "ConfigurationError",
    "ConnectionGone",
    "ConnectionThrottled",
    "ConversationNotFound",
    "ErrorCode",
    "FrameTooLarge",
    "KeysUnavailable",
    "ModelError",
    "ModelNotConfigured",
    "ModelRejectedKey",
    "ModelUnavailable",
    "SecretUnavailable",
    "TokenRejected",
    "TurnConversationDeleted",
]


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` frame (protocol v1)."""

    AUTH_REQUIRED = "AUTH_REQUIRED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 (an error code, not a secret)
    INVALID_JSON = "INVALID_JSON"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    UNKNOWN_ACTION = "UNKNOWN_ACTION"
    RATE_LIMITED = "RATE_LIMITED"
    NOT_FOUND = "NOT_FOUND"
    AI_NOT_CONFIGURED = "AI_NOT_CONFIGURED"
    AI_UNAVAILABLE = "AI_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class ChatError(Exception):
    """A request that failed in a way the client is told about, with a stable code."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        retryable: bool | None = None,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retryable = retryable
        self.retry_after = retry_after
        self.extra = extra or {}

    @classmethod
    def internal(cls, what: str, request_id: str, *, retryable: bool = True) -> ChatError:
        """A fault on our side: no details for the client, only the id to quote."""
        return cls(
            ErrorCode.INTERNAL_ERROR,
            f"{what} Quote request id {request_id} when reporting it.",
            retryable=retryable,
        )


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class TokenRejected(Exception):
    """A JWT failed verification. ``reason`` is for logs, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeysUnavailable(Exception):
    """The JWKS could not be fetched: an outage on our side, not a bad token."""


class ConnectionGone(Exception):
    """The client behind ``connection_id`` is no longer connected (HTTP 410)."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(connection_id)
        self.connection_id = connection_id


class ConnectionThrottled(Exception):
    """``@connections`` kept throttling posts to ``connection_id`` (HTTP 429)."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(connection_id)
        self.connection_id = connection_id


class FrameTooLarge(Exception):
    """``@connections`` refused a frame as larger than its 128 KB limit (HTTP 413)."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(connection_id)
        self.connection_id = connection_id


class ConversationNotFound(Exception):
    """The user has no conversation with this id (or it is someone else's)."""


class TurnConversationDeleted(ConversationNotFound):
    """A ``clientMessageId`` names a turn whose conversation was deleted: the turn is
    gone with it, whatever conversation the retry names."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id


class AiNotConfigured(Exception):
    """No usable API key. The message names the secret and the field (never a value) and
    is for the log; ``public`` says what to do without naming resources, for clients."""

    def __init__(self, message: str, *, public: str) -> None:
        super().__init__(message)
        self.public = public


class SecretUnavailable(Exception):
    """Secrets Manager could not be reached or kept throttling: retrying may help."""


class ModelError(Exception):
    """The AI provider failed; the message is for logs (it may quote the provider)."""


class ModelRejectedKey(ModelError):
    """The provider refused our API key (HTTP 401 or 403)."""


class ModelUnavailable(ModelError):
    """Throttled, failing or unreachable after retries, or the stream broke mid-answer."""


class ModelNotConfigured(ModelError):
    """The provider refused the request as it is set up (no access to the model, a model
    id it does not know, settings it rejects): retrying cannot help, an operator must
    fix the configuration. The message is for the log; ``public`` says what to do
    without naming resources, for clients."""

    def __init__(self, message: str, *, public: str) -> None:
        super().__init__(message)
        self.public = public
