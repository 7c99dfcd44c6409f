"""`make chat` as a person uses it: typing into a terminal that stays open, Ctrl-C,
commands, and a stack that restarts under it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.launcher import Stack, free_port, start_stack
from tests.support.terminal import Terminal
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def terminal(stack: Stack) -> Iterator[type[Terminal]]:
    opened: list[Terminal] = []

    def open_terminal(*args: str) -> Terminal:
        term = Terminal(stack.log.parent / "state", *args)
        opened.append(term)
        return term

    yield open_terminal  # type: ignore[misc]
    for term in opened:
        term.close()


def test_quit_leaves_at_once_while_the_terminal_stays_open(terminal: type[Terminal]) -> None:
    term = terminal()
    term.wait_for("connected")
    term.type("/quit")
    assert term.exit_code() == 0


def test_ctrl_c_leaves_at_once_without_a_traceback(terminal: type[Terminal]) -> None:
    term = terminal()
    term.wait_for("connected")
    term.process.send_signal(signal.SIGINT)
    assert term.exit_code() == 0
    assert "Traceback" not in term.output


def test_commands_answer_plainly_for_a_new_conversation(terminal: type[Terminal]) -> None:
    term = terminal()
    term.wait_for("connected")
    term.type("/history")
    term.wait_for("(no messages yet in cli-")
    term.type("/new")
    term.type("/new")

    def new_ids() -> list[str]:
        return [line.split()[-1] for line in term.output.splitlines() if "new conversation" in line]

    eventually(lambda: len(new_ids()) >= 2, what="both /new answered")
    ids = new_ids()
    assert len(ids) == 2 and ids[0] != ids[1]
    assert "NOT_FOUND" not in term.output


def test_a_conversation_can_be_resumed(terminal: type[Terminal]) -> None:
    first = terminal()
    first.wait_for("connected; conversation ")
    conversation = first.output.split("connected; conversation ")[1].split(".")[0]
    first.type("remember the word pelican")
    first.wait_for("tokens]")
    first.type("/quit")
    first.exit_code()
    again = terminal("--conversation", conversation)
    again.wait_for(f"connected; conversation {conversation}")
    again.type("/history")
    again.wait_for("remember the word pelican")


def test_the_client_signs_in_again_and_carries_on_after_the_stack_restarts(
    tmp_path: Path,
) -> None:
    # GIVEN a chat connected to a stack
    ports = {"WS_PORT": str(free_port()), "AWS_PORT": str(free_port())}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first: Stack = start_stack(tmp_path / "a", LOCAL_STATE_DIR=str(tmp_path / "state"), **ports)
    term = Terminal(tmp_path / "state")
    second: Stack | None = None
    try:
        term.wait_for("connected")
        # WHEN the stack restarts (new user pool, so the old token is refused)
        first.stop()
        term.wait_for("connection lost")  # noticed without typing anything
        second = start_stack(tmp_path / "b", LOCAL_STATE_DIR=str(tmp_path / "state"), **ports)
        term.wait_for("connected", timeout=40)
        term.output = ""
        # THEN a message typed now is answered
        term.type("are you back?")
        term.wait_for("You said: are you back?")
    finally:
        term.close()
        if second is not None:
            second.stop()


def test_regen_edit_versions_and_model_from_the_terminal(terminal: type[Terminal]) -> None:
    # GIVEN an answered message
    term = terminal()
    term.wait_for("connected")
    term.type("name a bird")
    eventually(lambda: term.output.count("tokens]") >= 1, what="the first answer")
    # WHEN it is regenerated, then edited
    term.type("/regen")
    term.wait_for("(regenerating)")
    eventually(lambda: term.output.count("tokens]") >= 2, what="the regenerated answer")
    term.type("/edit name a fish")
    term.wait_for("(edited) you> name a fish")
    eventually(lambda: term.output.count("tokens]") >= 3, what="the answer to the edit")
    # THEN the earlier versions are listed, and the model list says there is no choice
    term.type("/versions")
    term.wait_for("text 1: name a bird")
    term.wait_for("answer 2: You said: name a bird")
    term.type("/model")
    term.wait_for("(this server offers no choice of model)")
    assert "! " not in term.output  # no error on the way
