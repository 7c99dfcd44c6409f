"""What ``make chat`` prints for the server's frames: text from the server is shown,
never obeyed by the terminal."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.tools.chat import _show

HOSTILE = "\x1b[2J\x1b[31mRED\x07\x9b1m\u202etxet\x00"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "ai_response_chunk", "delta": HOSTILE},
        {"type": "ai_response_snapshot", "content": HOSTILE},
        {"type": "chat_history", "messages": [{"role": "assistant", "content": HOSTILE}]},
        {"type": "conversations", "conversations": [{"conversationId": "c1", "title": HOSTILE}]},
        {"type": "error", "code": "NOT_FOUND", "message": HOSTILE},
    ],
)
def test_control_characters_from_the_server_are_printed_escaped(
    frame: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _show(frame)
    printed = capsys.readouterr().out
    assert "\\x1b[2J\\x1b[31mRED\\x07\\x9b1m\\u202etxet\\x00" in printed
    assert not {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} - {"\n"} & set(printed)


def test_a_reply_keeps_its_newlines_and_tabs(capsys: pytest.CaptureFixture[str]) -> None:
    _show({"type": "ai_response_chunk", "delta": "line one\n\tline two"})
    assert capsys.readouterr().out == "line one\n\tline two"
