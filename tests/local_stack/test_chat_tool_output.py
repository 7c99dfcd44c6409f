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
        {"type": "ai_response", "messageId": "r1", "content": HOSTILE, "finishReason": "stop"},
        {"type": "ai_response", "messageId": "r1", "content": "", "model": HOSTILE},
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


def test_a_reply_that_ends_before_any_of_its_text_was_shown_is_printed_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a client that came in as another client's reply ended (no chunk, no snapshot)
    streamed: set[str] = set()
    # WHEN the final frame arrives THEN its whole text is shown, then its end
    _show({"type": "ai_response", "messageId": "r1", "content": "the answer"}, streamed)
    assert "(resumed) assistant> the answer" in capsys.readouterr().out
    # AND a reply whose chunks were shown is not printed twice
    _show({"type": "ai_response_chunk", "messageId": "r2", "delta": "streamed"}, streamed)
    _show({"type": "ai_response", "messageId": "r2", "content": "streamed"}, streamed)
    assert capsys.readouterr().out.count("streamed") == 1
