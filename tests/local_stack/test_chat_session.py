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


def test_regen_edit_and_versions_name_the_last_message_and_the_chosen_model() -> None:
    # GIVEN a session that chose a model and sent a message the server acknowledged
    session = _session()
    assert session.frame_for("/model deep") is None
    sent = session.frame_for("hello")
    assert sent is not None and sent["data"]["model"] == "deep"
    session.received({"type": "message_received", "conversationId": "open", "messageId": "q1"})
    # WHEN the user regenerates, edits and asks for versions
    regen = session.frame_for("/regen")
    edit = session.frame_for("/edit hello again")
    versions = session.frame_for("/versions")
    # THEN each names the open conversation, the edit and versions the last message,
    # and the turns carry the chosen model and a clientMessageId of their own
    assert regen is not None and edit is not None and versions is not None
    assert regen["action"] == "regenerate_reply" and regen["data"]["model"] == "deep"
    assert regen["data"]["conversationId"] == "open"
    assert edit["data"] | {"clientMessageId": "x"} == {
        "conversationId": "open",
        "messageId": "q1",
        "message": "hello again",
        "model": "deep",
        "clientMessageId": "x",
    }
    assert regen["data"]["clientMessageId"] != sent["data"]["clientMessageId"]
    assert versions == {
        "action": "message_versions",
        "data": {"conversationId": "open", "messageId": "q1"},
    }
    assert session.frame_for("/model") == {"action": "list_models"}


def test_edit_before_any_message_is_answered_locally() -> None:
    session = _session()
    assert session.frame_for("/edit something") is None
    # AND after /use and /history, the conversation's last message can be edited
    session.frame_for("/use other")
    history = {
        "type": "chat_history",
        "conversationId": "other",
        "messages": [{"messageId": "m9", "role": "user"}, {"messageId": "a9", "role": "assistant"}],
    }
    session.received(history)
    edit = session.frame_for("/edit better")
    assert edit is not None and edit["data"]["messageId"] == "m9"
