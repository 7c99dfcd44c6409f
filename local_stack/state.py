"""Reading ``.local/stack.json``, which a running ``make run`` writes for the tools."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["StackNotRunning", "read_state"]

DEFAULT = Path(__file__).resolve().parent.parent / ".local" / "stack.json"


class StackNotRunning(Exception):
    pass


def read_state(path: Path | None = None) -> dict[str, Any]:
    path = path or Path(os.environ.get("LOCAL_STATE_DIR", DEFAULT.parent)) / "stack.json"
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise StackNotRunning(
            f"{path} does not exist: start the local stack first (`make run`)."
        ) from None
    return state
