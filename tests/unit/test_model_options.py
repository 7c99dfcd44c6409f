"""The model allow-list (AI_MODELS): what a deployer may write, and what is refused at
cold start, naming the entry at fault."""

from __future__ import annotations

import pytest

from realtime_chat.errors import ConfigurationError
from realtime_chat.model_options import ModelOption, parse_models


def test_entries_give_id_label_route_and_optional_token_cap() -> None:
    # WHEN two models are listed, the second's model name holding colons
    options = parse_models(
        " fast|GPT-4o mini|openai:openai/gpt-4o-mini|1024 ; deep|DeepSeek|openai:ds:r1 ;"
    )
    # THEN each keeps its route whole and only the first caps its answers
    assert options == (
        ModelOption("fast", "GPT-4o mini", "openai", "openai/gpt-4o-mini", 1024),
        ModelOption("deep", "DeepSeek", "openai", "ds:r1", None),
    )


def test_an_empty_list_offers_no_choice() -> None:
    assert parse_models("") == () and parse_models(" ; ") == ()


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("fast|GPT", "'fast|GPT'"),
        ("fast||openai:m", "label"),
        ("fast|Fast|acme:m", "provider"),
        ("fast|Fast|openai:", "provider:model"),
        ("-x|Fast|openai:m", "'-x'"),
        ("fast|Fast|openai:m|0", "maxTokens"),
        ("fast|Fast|openai:m|99999", "maxTokens"),
        ("fast|A|openai:m;fast|B|openai:n", "twice"),
    ],
)
def test_a_malformed_entry_fails_at_cold_start_naming_it(value: str, named: str) -> None:
    with pytest.raises(ConfigurationError, match="AI_MODELS") as refused:
        parse_models(value)
    assert named in str(refused.value)
