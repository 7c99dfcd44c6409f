"""What the model is sent: the system prompt, the newest earlier messages that fit the
budget (oldest first), then the current message exactly once."""

from __future__ import annotations

from collections.abc import Sequence

from realtime_chat.domain import Message, PromptMessage

__all__ = ["build_prompt"]


def build_prompt(
    *,
    system_prompt: str,
    earlier: Sequence[Message],
    current: str,
    max_messages: int,
    max_chars: int,
) -> list[PromptMessage]:
    """``earlier`` is oldest first and must not contain the current message."""
    kept: list[Message] = []
    used = 0
    for message in reversed(earlier[-max_messages:] if max_messages else []):
        if not message.content:
            continue
        if used + len(message.content) > max_chars:
            break
        kept.append(message)
        used += len(message.content)
    kept.reverse()
    prompt = [PromptMessage("system", system_prompt)] if system_prompt else []
    prompt.extend(PromptMessage(m.role.value, m.content) for m in kept)
    prompt.append(PromptMessage("user", current))
    return prompt
