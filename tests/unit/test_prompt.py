"""The prompt: system, the newest earlier messages within budget (oldest first), current once."""

from __future__ import annotations

from realtime_chat.domain import Message, PromptMessage, Role
from realtime_chat.prompt import build_prompt


def _history(n: int, size: int = 10) -> list[Message]:
    return [
        Message(
            f"m{i}",
            Role.USER if i % 2 == 0 else Role.ASSISTANT,
            f"{i}".ljust(size, "."),
            f"2026-01-01T00:00:{i:02d}.000Z",
        )
        for i in range(n)
    ]


def test_the_newest_messages_are_kept_oldest_first_and_the_current_one_comes_last() -> None:
    prompt = build_prompt(
        system_prompt="sys", earlier=_history(6), current="now?", max_messages=3, max_chars=1000
    )
    assert [p.content[0] for p in prompt[1:-1]] == ["3", "4", "5"]
    assert prompt[0] == PromptMessage("system", "sys")
    assert prompt[-1] == PromptMessage("user", "now?")
    assert [p.content for p in prompt].count("now?") == 1


def test_the_character_budget_drops_the_oldest_first() -> None:
    prompt = build_prompt(
        system_prompt="", earlier=_history(6, size=10), current="q", max_messages=6, max_chars=25
    )
    assert [p.content[0] for p in prompt[:-1]] == ["4", "5"]


def test_no_history_sends_only_the_current_message() -> None:
    prompt = build_prompt(
        system_prompt="", earlier=_history(4), current="q", max_messages=0, max_chars=1000
    )
    assert prompt == [PromptMessage("user", "q")]
