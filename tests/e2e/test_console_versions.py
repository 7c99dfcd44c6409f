"""The console's last-turn buttons and model picker, in headless Chromium against the
local stack: regenerate, edit, earlier versions, and a model chosen for a conversation."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from local_stack.launcher import Stack, start_stack
from tests.e2e import test_console
from tests.e2e.test_console import WAIT_MS, _send, _sign_in

# The browser and its page, as the console's own tests make them (with this stack).
browser = test_console.browser
page = test_console.page

pytestmark = pytest.mark.e2e

MODELS = "fast|Fast|openai:local-fast;deep|Deep thinker|openai:local-deep"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("console-versions"),
        MODEL_TOKENS="20",
        MODEL_TOKEN_DELAY="0.02",
        PARAMETER_OVERRIDES=f"AiModels='{MODELS}'",
    )
    yield running
    running.stop()


def _answer(page: Page, n: int = 1) -> None:
    expect(page.locator(".message.assistant")).to_have_count(n, timeout=WAIT_MS)
    expect(page.locator(".message.assistant").last).to_have_attribute(
        "data-status", "complete", timeout=WAIT_MS
    )


def test_regenerate_edit_and_versions_from_the_last_turns_buttons(page: Page) -> None:
    # GIVEN an answered message in a signed-in page
    _sign_in(page)
    _send(page, "What is a WebSocket?")
    _answer(page)
    first = page.text_content(".message.assistant .body")
    expect(page.locator("#last-turn")).to_be_visible()

    # WHEN the developer presses Regenerate
    page.click("#regenerate")

    # THEN the thread shows one answer, the second version, complete
    expect(page.locator(".message.assistant")).to_have_attribute(
        "data-version", "2/2", timeout=WAIT_MS
    )
    _answer(page)

    # WHEN they edit their message
    page.click("#edit-last")
    expect(page.locator("#message")).to_have_value("What is a WebSocket?")
    page.fill("#message", "What is HTTP/2?")
    page.press("#message", "Enter")

    # THEN their message shows the new text as version 2, and the new answer follows it
    user = page.locator(".message.user")
    expect(user).to_have_count(1)
    expect(user).to_have_attribute("data-version", "2/2", timeout=WAIT_MS)
    expect(user.locator(".body")).to_have_text("What is HTTP/2?")
    expect(page.locator(".message.assistant")).to_have_attribute(
        "data-version", "3/3", timeout=WAIT_MS
    )
    _answer(page)
    expect(page.locator(".message.assistant .body")).to_contain_text("HTTP/2")

    # AND the earlier versions are listed, the first answer among them
    page.click("#show-versions")
    versions = page.locator("#versions li")
    expect(versions).to_have_count(3)
    expect(versions.first).to_have_text("your text v1: What is a WebSocket?")
    assert first and first[:20] in (page.text_content("#versions") or "")
    expect(page.locator("#chat-error")).to_have_text("")


def test_the_model_picker_lists_the_allowed_models_and_the_choice_sticks(
    page: Page, stack: Stack
) -> None:
    # GIVEN a signed-in page on a stack that offers two models
    _sign_in(page)
    picker = page.locator("#model")
    expect(page.locator("#model-picker")).to_be_visible(timeout=WAIT_MS)
    expect(picker.locator("option")).to_have_text(["Default", "Fast", "Deep thinker"])

    # WHEN a message is sent with "Deep thinker" chosen
    picker.select_option("deep")
    _send(page, "Think hard")
    _answer(page)

    # THEN the conversation remembers the choice
    with connect(f"{stack.url}?token={stack.tokens()['idToken']}") as ws:
        ws.send(json.dumps({"action": "list_conversations", "data": {"limit": 10}}))
        conversations = json.loads(ws.recv(timeout=10))["conversations"]
        (conversation,) = [c for c in conversations if c["title"] == "Think hard"]
        data = {"conversationId": conversation["conversationId"]}
        ws.send(json.dumps({"action": "chat_history", "data": data}))
        assert json.loads(ws.recv(timeout=10))["model"] == "deep"
    # AND the picker shows it when the conversation is opened again
    page.click("#new-conversation")
    expect(picker).to_have_value("")
    page.locator("#conversations button", has_text="Think hard").click()
    expect(picker).to_have_value("deep", timeout=WAIT_MS)
