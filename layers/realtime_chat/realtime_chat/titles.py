"""Conversation titles: one rule for what a title may hold, whether it was made from a
first message or given by ``rename_conversation``.

A title is shown in lists, often in terminals: control characters (C0, DEL, C1) and
bidirectional controls (overrides, embeddings, isolates, marks) are removed, whatever
separates words becomes one space, and the ends are trimmed. A terminal escape
sequence (``ESC [ … m``) goes whole, not only its ``ESC``. :func:`clean_title` is
idempotent, and every title it returns is one ``rename_conversation`` accepts.
"""

from __future__ import annotations

import re

__all__ = ["AUTO_TITLE_CHARS", "MAX_TITLE_CHARS", "UNTITLED", "auto_title", "clean_title"]

MAX_TITLE_CHARS = 200  # a renamed title
AUTO_TITLE_CHARS = 60  # a title made from the first message
UNTITLED = "Untitled"  # a first message with nothing to show (controls only)

_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]")
_BIDI = "\u061c\u200e\u200f" + "".join(map(chr, range(0x202A, 0x202F))) + "\u2066\u2067\u2068\u2069"
_CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]
# Whitespace controls (tab, newline, NEL, …) separate words; the others are dropped.
_REMOVE = str.maketrans({c: " " if c.isspace() else None for c in (*_CONTROLS, *_BIDI)})
_SPACES = re.compile(r"\s+")


def clean_title(text: str) -> str:
    """``text`` as a title may hold it: no control or bidi characters, words separated
    by single spaces, no space at either end. May be empty."""
    text = _ESCAPE_SEQUENCE.sub("", text).translate(_REMOVE)
    return _SPACES.sub(" ", text).strip()


def auto_title(first_message: str) -> str:
    """A conversation's title from its first message: clean, one line, at most
    :data:`AUTO_TITLE_CHARS` characters (cut with ``…``); :data:`UNTITLED` when nothing
    of it can be shown."""
    line = clean_title(first_message) or UNTITLED
    return line if len(line) <= AUTO_TITLE_CHARS else line[: AUTO_TITLE_CHARS - 1].rstrip() + "…"
