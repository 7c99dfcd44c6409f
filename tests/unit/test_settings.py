"""Settings fail at cold start with the variable's name, never deep inside a request."""

from __future__ import annotations

import pytest

from realtime_chat.errors import ConfigurationError
from realtime_chat.settings import AiRoute, ai_settings, auth_settings, chat_settings

BASE = {"AWS_REGION": "eu-west-1", "CONNECTIONS_TABLE": "c", "CHAT_TABLE": "h"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AWS_REGION": "eu-west-1", "CHAT_TABLE": "h"}, "CONNECTIONS_TABLE"),
        ({**BASE, "MAX_MESSAGE_CHARS": "lots"}, "MAX_MESSAGE_CHARS"),
        ({**BASE, "MAX_MESSAGE_CHARS": "0"}, "MAX_MESSAGE_CHARS"),
        ({**BASE, "ALLOW_ANONYMOUS_CONNECTIONS": "maybe"}, "ALLOW_ANONYMOUS_CONNECTIONS"),
        ({"CONNECTIONS_TABLE": "c", "CHAT_TABLE": "h"}, "AWS_REGION"),
    ],
)
def test_a_missing_or_malformed_variable_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        chat_settings(env)


def test_defaults_match_the_template() -> None:
    settings = chat_settings(BASE)
    assert (settings.max_message_chars, settings.allow_anonymous) == (8000, True)


def test_the_issuer_and_jwks_url_default_to_cognitos_and_can_be_set_apart() -> None:
    env = {"AWS_REGION": "eu-west-1", "USER_POOL_ID": "eu-west-1_abc", "USER_POOL_CLIENT_ID": "x"}
    settings = auth_settings(env)
    assert settings.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
    assert settings.jwks_url == settings.issuer + "/.well-known/jwks.json"
    local = auth_settings({**env, "JWKS_URL": "http://127.0.0.1:4566/eu-west-1_abc/jwks"})
    assert local.issuer == settings.issuer
    assert local.jwks_url.startswith("http://127.0.0.1")


def test_ai_settings_validate_numbers_and_urls() -> None:
    env = {"AI_TEMPERATURE": "0.2"}
    assert ai_settings(env).temperature == 0.2
    with pytest.raises(ConfigurationError, match="AI_TEMPERATURE"):
        ai_settings({**env, "AI_TEMPERATURE": "hot"})
    with pytest.raises(ConfigurationError, match="AI_BASE_URL"):
        ai_settings({**env, "AI_BASE_URL": "ftp://x"})


def test_allowed_origins_are_matched_as_browsers_send_them_whatever_the_spacing_or_slash() -> None:
    # GIVEN origins written with spaces, a trailing slash and an empty entry
    env = {"AWS_REGION": "eu-west-1", "USER_POOL_ID": "p", "USER_POOL_CLIENT_ID": "x"}
    listed = " https://app.example.com/ ,http://localhost:3000,, "
    # WHEN the settings are read THEN each is the origin a browser sends (no path, no slash)
    settings = auth_settings({**env, "ALLOWED_ORIGINS": listed})
    assert settings.allowed_origins == {"https://app.example.com", "http://localhost:3000"}
    # AND an entry that is not an http(s) origin is named at cold start
    with pytest.raises(ConfigurationError, match="ALLOWED_ORIGINS"):
        auth_settings({**env, "ALLOWED_ORIGINS": "app.example.com"})


def test_reply_chunks_gather_longer_up_to_the_longest_interval_never_below_the_first() -> None:
    # GIVEN the reply function's chunk settings, as the template passes them
    env = {"REPLY_CHUNK_MS": "100", "REPLY_MAX_CHUNK_MS": "400", "REPLY_CHUNK_CHARS": "1500"}
    # WHEN they are read THEN they are in seconds and characters
    settings = ai_settings(env)
    assert (settings.chunk_seconds, settings.max_chunk_seconds, settings.chunk_chars) == (
        0.1,
        0.4,
        1500,
    )
    # AND a longest interval below the first (the template cannot compare the two) is
    # raised to it, never failing the function at init
    assert ai_settings({**env, "REPLY_MAX_CHUNK_MS": "50"}).max_chunk_seconds == 0.1
    # AND unset, chunks gather for a fixed 100 ms
    assert ai_settings({}).max_chunk_seconds == ai_settings({}).chunk_seconds == 0.1


def test_ai_routes_default_to_the_one_openai_compatible_provider() -> None:
    env = {"AWS_LAMBDA_FUNCTION_NAME": "f", "AI_MODEL": "openai/gpt-4o-mini"}
    assert ai_settings(env).routes == (AiRoute("openai", "openai/gpt-4o-mini"),)


def test_ai_routes_keep_their_order_and_models_with_colons() -> None:
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AI_ROUTES": " bedrock:anthropic.claude-3-haiku-20240307-v1:0 , openai:openai/gpt-4o-mini",
    }
    assert ai_settings(env).routes == (
        AiRoute("bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
        AiRoute("openai", "openai/gpt-4o-mini"),
    )


@pytest.mark.parametrize("routes", ["claude", "azure:gpt", "bedrock:", "openai:a,openai:a"])
def test_bad_ai_routes_are_named_at_cold_start(routes: str) -> None:
    with pytest.raises(ConfigurationError, match="AI_ROUTES"):
        ai_settings({"AWS_LAMBDA_FUNCTION_NAME": "f", "AI_ROUTES": routes})
