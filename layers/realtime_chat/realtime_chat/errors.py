"""Every exception the library raises, in one tree, and the codes a client sees.

Callers catch a family, never a list of its members: a new member is then handled
wherever its family is. Nothing matches on an exception's message: the class and its
attributes say what happened, the message is for the log.

Hierarchy::

    RealtimeChatError               the base: everything below is one of these
     ├── ChatError                  a request the client is told about: an ``error``
     │                              frame with its ``code`` (an ``ErrorCode``)
     ├── ConfigurationError         a setting is missing or invalid: an operator must
     │    │                         fix it (the message names the setting)
     │    └── AiNotConfigured       the API key is missing from its secret, or unreadable
     ├── Refused                    a ``$connect`` handshake refused; ``reason`` is
     │    │                         for the log only
     │    ├── TokenRejected         the token failed verification (401)
     │    ├── OriginNotAllowed      a page from an origin outside the allow-list (403)
     │    └── TooManyConnections    the user's open connections are at the cap (429)
     ├── Unauthorized               the authorizer's answer "401" to API Gateway
     ├── KeysOutage                 the authorizer's answer "500" to API Gateway
     ├── KeysUnavailable            the token signing keys could not be fetched
     ├── DeliveryFailed             ``@connections`` did not deliver a frame to
     │    │                         ``connection_id``
     │    ├── ConnectionGone        410: the client is gone (forget the connection)
     │    ├── ConnectionThrottled   429, still after retries (skip the frame)
     │    └── FrameTooLarge         413: over the 128 KB frame limit (skip the frame)
     ├── ConversationNotFound       the user has no conversation with that id
     │    └── TurnConversationDeleted  a retried ``clientMessageId``'s turn is in a
     │                              deleted conversation
     ├── SecretUnavailable          Secrets Manager could not be reached (retryable)
     └── ModelError                 the AI provider failed
          ├── ModelRejectedKey      the provider answered 401/403 to our key
          ├── ModelUnavailable      429/5xx/timeouts after retries, or the stream broke
          └── ModelNotConfigured    the provider refused the request as set up (no
                                    model access)
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
    "DeliveryFailed",
    "ErrorCode",
    "FrameTooLarge",
    "KeysOutage",
    "KeysUnavailable",
    "ModelError",
    "ModelNotConfigured",
    "ModelRejectedKey",
    "ModelUnavailable",
    "OriginNotAllowed",
    "RealtimeChatError",
    "Refused",
    "SecretUnavailable",
    "TokenRejected",
    "TooManyConnections",
    "TurnConversationDeleted",
    "Unauthorized",
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


class RealtimeChatError(Exception):
    """The base of every exception the library raises."""


class ChatError(RealtimeChatError):
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


class ConfigurationError(RealtimeChatError):
    """A setting is missing or invalid; the message names the variable (or the secret
    and its field), never a value."""


class AiNotConfigured(ConfigurationError):
    """No usable API key. The message names the secret and the field (never a value) and
    is for the log; ``public`` says what to do without naming resources, for clients."""

    def __init__(self, message: str, *, public: str) -> None:
        super().__init__(message)
        self.public = public


class Refused(RealtimeChatError):
    """The ``$connect`` handshake is refused; ``reason`` is for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenRejected(Refused):
    """A JWT failed verification (401). ``reason`` is for logs, never for the client."""


class OriginNotAllowed(Refused):
    """A browser page from an origin outside the allow-list (403)."""


class TooManyConnections(Refused):
    """The user already has as many open connections as allowed (429)."""


class Unauthorized(RealtimeChatError):
    """Raised out of the authorizer with the message "Unauthorized": API Gateway then
    answers 401. That exact message is API Gateway's contract, not ours."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class KeysOutage(RealtimeChatError):
    """Raised out of the authorizer when the token keys cannot be fetched: API Gateway
    then answers 500, which tells the client to retry later rather than to sign in
    again (401)."""

    def __init__(self) -> None:
        super().__init__("Token signing keys are unavailable")


class KeysUnavailable(RealtimeChatError):
    """The JWKS could not be fetched: an outage on our side, not a bad token."""


class DeliveryFailed(RealtimeChatError):
    """``@connections`` did not deliver a frame to ``connection_id``. Catch this family
    to skip the frame; catch ``ConnectionGone`` before it to also forget the connection."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(connection_id)
        self.connection_id = connection_id


class ConnectionGone(DeliveryFailed):
    """The client behind ``connection_id`` is no longer connected (HTTP 410)."""


class ConnectionThrottled(DeliveryFailed):
    """``@connections`` kept throttling posts to ``connection_id`` (HTTP 429)."""


class FrameTooLarge(DeliveryFailed):
    """``@connections`` refused a frame as larger than its 128 KB limit (HTTP 413)."""


class ConversationNotFound(RealtimeChatError):
    """The user has no conversation with this id (or it is someone else's)."""


class TurnConversationDeleted(ConversationNotFound):
    """A ``clientMessageId`` names a turn whose conversation was deleted: the turn is
    gone with it, whatever conversation the retry names."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id


class SecretUnavailable(RealtimeChatError):
    """Secrets Manager could not be reached or kept throttling: retrying may help."""


class ModelError(RealtimeChatError):
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
