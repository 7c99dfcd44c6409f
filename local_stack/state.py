"""Reading ``.local/stack.json``, which a running ``make run`` writes for the tools."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["StackNotRunning", "read_state"]

DEFAULT = Path(__file__).resolve().parent.parent / ".local" / "stack.json"


class StackNotRunning(Exception):
    pass


def read_state(path: Path | None = None) -> dict[str, Any]:
    """The running stack's state; ``StackNotRunning`` when there is none, including when
    the file outlived its stack (a ``kill -9`` leaves it behind)."""
    path = path or Path(os.environ.get("LOCAL_STATE_DIR", DEFAULT.parent)) / "stack.json"
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise StackNotRunning(
            f"{path} does not exist: start the local stack first (`make run`)."
        ) from None
    except ValueError:
        raise StackNotRunning(f"{path} is not readable: restart the stack (`make run`).") from None
    if not _listening(state.get("websocketUrl", "")):
        raise StackNotRunning(
            f"The local stack is not running: {path} was left by a stack that stopped "
            "without cleaning up (killed?). Start it again with `make run`."
        )
    return state


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=0.5):
            return True
    except OSError:
        return False
