"""`make chat`'s session: it shows only the open conversation's frames, and a new
conversation never waits for the last one's reply."""

from __future__ import annotations

from local_stack.tools.chat import Session


def _session(conversation: str | None = "open") -> Session:
    return Session(lambda: "ws://127.0.0.1:1", lambda: None, conversation)


def test_frames_of_another_conversation_are_not_shown() -> None:
    # GIVEN a client in one conversation
    session = _session()
    # WHEN a reply of another conversation streams to the same user (a fresh client
    # connecting while an earlier one's reply still streams, say)
    other = {"type": "ai_response_snapshot", "conversationId": "earlier", "content": "x"}
    # THEN it is not shown, while the open conversation's frames and frames about no
    # conversation are
    assert not session.shows(other)
    assert session.shows({"type": "ai_response_chunk", "conversationId": "open", "delta": "y"})
    assert session.shows({"type": "pong"})


def test_after_new_the_old_reply_is_hidden_and_not_waited_for() -> None:
    # GIVEN a message sent whose reply is still streaming
    session = _session()
    assert session.frame_for("hello") is not None
    session.pending += 1
    old = session.conversation
    # WHEN the user starts a new conversation
    assert session.frame_for("/new") is None
    # THEN the old reply is hidden and the next message goes at once
    assert not session.shows({"type": "ai_response_chunk", "conversationId": old, "delta": "z"})
    assert session.pending == 0
