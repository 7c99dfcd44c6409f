"""The model allow-list: the models a user may choose for a conversation (``AI_MODELS``).

Each entry is ``id|label|provider:model[|maxTokens]``, entries separated by ``;``::

    fast|GPT-4o mini|openai:openai/gpt-4o-mini|1024;deep|DeepSeek R1|openai:deepseek/deepseek-r1

``id`` is what clients send (``chat_message``'s ``model``) and what a conversation
remembers; ``label`` is what they show; ``provider:model`` is the route that answers
(the provider's own model name; a model may itself contain colons), and ``maxTokens``
caps that model's answers (else ``AI_MAX_TOKENS``). Clients never see the route.

The seam to the providers: the reply hands the chosen :class:`ModelOption` to
``LanguageModel.stream(..., choice=...)``; the routed model tries that route first, then
the configured routes (``AI_ROUTES``) as failover; no choice means those alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from realtime_chat.errors import ConfigurationError

__all__ = ["PROVIDERS", "ModelOption", "parse_models"]

# The providers a route may name: Amazon Bedrock; the OpenAI-compatible AI_BASE_URL.
PROVIDERS = ("bedrock", "openai")
MAX_TOKENS = 32_768  # as AI_MAX_TOKENS
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_VARIABLE = "environment variable AI_MODELS"


@dataclass(frozen=True, slots=True)
class ModelOption:
    """One allow-listed model: its id and label (what clients see), its route (the
    provider and the provider's model name) and its answers' token cap, if any."""

    id: str
    label: str
    provider: str
    model: str
    max_tokens: int | None = None

    @property
    def route(self) -> str:
        """The route's name, as ``AI_ROUTES`` and the logs spell it: ``provider:model``."""
        return f"{self.provider}:{self.model}"


def parse_models(value: str) -> tuple[ModelOption, ...]:
    """The allow-list in ``value`` (empty: none, conversations use the default route).
    Raises :class:`ConfigurationError` naming the entry at fault."""
    options: list[ModelOption] = []
    for entry in (part.strip() for part in value.split(";")):
        if not entry:
            continue
        fields = [f.strip() for f in entry.split("|")]
        if len(fields) not in (3, 4):
            raise ConfigurationError(f"{_VARIABLE}: {entry!r} is not id|label|provider:model")
        model_id, label, route = fields[:3]
        provider, _, model = route.partition(":")
        if not _ID.fullmatch(model_id):
            raise ConfigurationError(f"{_VARIABLE}: {model_id!r} is not a valid model id")
        if not label or provider not in PROVIDERS or not model:
            raise ConfigurationError(
                f"{_VARIABLE}: {entry!r} needs a label and a provider:model route, "
                f"provider one of {', '.join(PROVIDERS)}"
            )
        max_tokens = _max_tokens(entry, fields[3]) if len(fields) == 4 else None
        if any(o.id == model_id for o in options):
            raise ConfigurationError(f"{_VARIABLE} names the id {model_id!r} twice")
        options.append(ModelOption(model_id, label, provider, model, max_tokens))
    return tuple(options)


def _max_tokens(entry: str, value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_TOKENS:
        raise ConfigurationError(
            f"{_VARIABLE}: {entry!r}: maxTokens must be a whole number from 1 to {MAX_TOKENS}"
        )
    return int(value)
