"""One error tree: every exception the library raises is a ``RealtimeChatError``, a
caller that catches a family catches each of its members, and the module's docstring
draws the tree as it is."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from realtime_chat import errors
from realtime_chat.errors import (
    AiNotConfigured,
    ChatError,
    ConfigurationError,
    ConnectionGone,
    ConnectionThrottled,
    ConversationNotFound,
    DeliveryFailed,
    ErrorCode,
    FrameTooLarge,
    ModelError,
    ModelRejectedKey,
    ModelUnavailable,
    OriginNotAllowed,
    RealtimeChatError,
    Refused,
    TokenRejected,
    TooManyConnections,
    TurnConversationDeleted,
)

# Each family, and one raised instance of each of its members, as adapters raise them.
FAMILIES: list[tuple[type[RealtimeChatError], list[RealtimeChatError]]] = [
    (
        DeliveryFailed,
        [ConnectionGone("c1"), ConnectionThrottled("c1"), FrameTooLarge("c1")],
    ),
    (
        Refused,
        [
            TokenRejected("token expired"),
            OriginNotAllowed("origin 'https://evil.example' is not allowed"),
            TooManyConnections("user has 10 open connections"),
        ],
    ),
    (ConfigurationError, [AiNotConfigured("no apiKey in the secret", public="Set a key.")]),
    (ConversationNotFound, [TurnConversationDeleted("c1")]),
    (ModelError, [ModelRejectedKey("provider answered 401"), ModelUnavailable("503")]),
]


def _exceptions() -> list[type[BaseException]]:
    return [
        value
        for name in errors.__all__
        if inspect.isclass(value := getattr(errors, name)) and issubclass(value, BaseException)
    ]


@pytest.mark.parametrize(
    ("family", "member"),
    [(family, member) for family, members in FAMILIES for member in members],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__,
)
def test_a_caller_catching_a_family_catches_each_of_its_members(
    family: type[RealtimeChatError], member: RealtimeChatError
) -> None:
    # GIVEN a caller that catches the family, and the base
    def caller() -> str:
        try:
            raise member
        except family:
            return "family"
        except RealtimeChatError:
            return "base"

    # WHEN a member is raised THEN the family's clause handles it
    assert caller() == "family"


@pytest.mark.parametrize("error", _exceptions(), ids=lambda cls: cls.__name__)
def test_every_exception_the_library_raises_is_a_realtime_chat_error(
    error: type[BaseException],
) -> None:
    assert issubclass(error, RealtimeChatError)


def _drawn() -> dict[str, int]:
    """Each class errors.py's docstring draws, and the column its name starts at."""
    names = {error.__name__ for error in _exceptions()}
    drawn = {}
    for line in (errors.__doc__ or "").splitlines():
        words = line.translate(str.maketrans("│├└─", "    ")).split()
        if words and words[0] in names:
            drawn[words[0]] = line.index(words[0])
    return drawn


@pytest.mark.parametrize("error", _exceptions(), ids=lambda cls: cls.__name__)
def test_the_module_docstring_draws_each_exception_under_its_parent(
    error: type[BaseException],
) -> None:
    # GIVEN the tree drawn in errors.py's docstring, one class per line, indented by depth
    drawn = _drawn()
    # THEN each exception is drawn, deeper than the class it derives from
    assert error.__name__ in drawn
    if error is not RealtimeChatError:
        assert drawn[error.__name__] > drawn[error.__mro__[1].__name__]


def test_no_other_module_defines_a_public_exception() -> None:
    # GIVEN every module of the library
    package = Path(errors.__file__).parent
    elsewhere = []
    for path in sorted(package.rglob("*.py")):
        name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        module = importlib.import_module(name.removesuffix(".__init__"))
        for cls_name, cls in vars(module).items():
            if (
                inspect.isclass(cls)
                and issubclass(cls, BaseException)
                and cls.__module__ == module.__name__
                and not cls_name.startswith("_")
                and module is not errors
            ):
                elsewhere.append(f"{module.__name__}.{cls_name}")
    # THEN the tree in errors.py is the whole tree
    assert elsewhere == []


def test_a_delivery_failure_names_the_connection_it_could_not_reach() -> None:
    for failure in (ConnectionGone, ConnectionThrottled, FrameTooLarge):
        assert failure("L0SM9cOFvHcCIhw=").connection_id == "L0SM9cOFvHcCIhw="


def test_a_refusal_keeps_its_reason_for_the_log() -> None:
    assert TokenRejected("unknown kid").reason == "unknown kid"


def test_an_internal_error_tells_the_client_only_the_request_id_to_quote() -> None:
    err = ChatError.internal("The reply could not be started.", "Kx1=")
    assert err.code is ErrorCode.INTERNAL_ERROR and err.retryable is True
    assert "Kx1=" in err.message
