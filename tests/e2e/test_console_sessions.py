"""The console across what breaks a session: a reload in the middle of a long reply,
a reply longer than the window, and the local stack restarting under the page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from websockets.sync.client import connect

from local_stack.launcher import Stack, free_port, start_stack
from tests.support.browser import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.e2e

WAIT_MS = 20_000  # generous: CI machines are slow, and expect() returns as soon as it holds
# 300 tokens 30 ms apart: a reply streams for about 9 s, long enough to reload under it.
LONG_REPLY = {"MODEL_TOKENS": "300", "MODEL_TOKEN_DELAY": "0.03"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("console-sessions"), **LONG_REPLY)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _open(browser: Browser, url: str, *, height: int = 800) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": height}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(url.replace("ws://", "http://", 1) + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def _close(page: Page) -> None:
    errors = page.errors  # type: ignore[attr-defined]
    page.context.close()
    assert errors == [], errors  # no script error on the way


def _sign_in(page: Page) -> None:
    page.click("#sign-in")
    expect(page.locator("#badge")).to_have_text(
        "Real-time (signed in as demo@example.com)", timeout=WAIT_MS
    )


def _send(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")


def _reply_length(page: Page) -> int:
    return len(page.text_content(".message.assistant .body") or "")


def _stored_reply(stack: Stack) -> str:
    with connect(f"{stack.url}?token={stack.tokens()['idToken']}") as ws:
        ws.send(json.dumps({"action": "list_conversations", "data": {"limit": 1}}))
        newest = json.loads(ws.recv(timeout=10))["conversations"][0]["conversationId"]
        ws.send(json.dumps({"action": "chat_history", "data": {"conversationId": newest}}))
        history = json.loads(ws.recv(timeout=10))
    return str([m for m in history["messages"] if m["role"] == "assistant"][-1]["content"])


def _longer_than(page: Page, length: int, timeout_ms: float) -> None:
    page.wait_for_function(
        "(n) => (document.querySelector('.message.assistant .body')?.textContent.length || 0) > n",
        arg=length,
        timeout=timeout_ms,
    )


def _grows_within(page: Page, seconds: float, above: int) -> float:
    """Seconds until the reply is longer than `above` and still growing; fails after `seconds`."""
    started = time.monotonic()
    page.wait_for_function(
        """(above) => {
          const body = document.querySelector('.message.assistant .body');
          return body && body.textContent.length > above
            && body.closest('.message').dataset.status === 'streaming';
        }""",
        arg=above,
        timeout=seconds * 1000,
    )
    return time.monotonic() - started


def test_a_reload_mid_reply_resumes_the_session_and_the_reply_keeps_growing(
    browser: Browser, stack: Stack
) -> None:
    # GIVEN a signed-in page with a long reply streaming
    page = _open(browser, stack.url)
    try:
        _sign_in(page)
        _send(page, "A long answer, please")
        _longer_than(page, 300, WAIT_MS)
        title = page.text_content("#conversation-title")
        before = _reply_length(page)

        # WHEN the developer reloads the tab
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-ready", "true")

        # THEN, without signing in again, the page is back on the same conversation ...
        expect(page.locator("#badge")).to_have_text(
            "Real-time (signed in as demo@example.com)", timeout=WAIT_MS
        )
        expect(page.locator("#conversation-title")).to_have_text(title or "")
        expect(page.locator(".message.user .body")).to_have_text("A long answer, please")
        # ... and within 2 s of reopening the reply is past where it was, and still growing
        _grows_within(page, 2.0, before)
        grown = _reply_length(page)
        _longer_than(page, grown, 2_000)
        # ... to the very word the server stored
        reply = page.locator(".message.assistant")
        expect(reply).to_have_attribute("data-status", "complete", timeout=WAIT_MS)
        assert page.text_content(".message.assistant .body") == _stored_reply(stack)
        expect(page.locator("#chat-error")).to_have_text("")
    finally:
        _close(page)


def test_the_thread_follows_the_bottom_until_the_reader_scrolls_up(
    browser: Browser, stack: Stack
) -> None:
    # GIVEN a short window and a reply that grows past it
    page = _open(browser, stack.url, height=520)
    try:
        _sign_in(page)
        _send(page, "Fill the window")
        messages = page.locator("#messages")
        page.wait_for_function(
            "() => { const m = document.getElementById('messages');"
            " return m.scrollHeight > m.clientHeight + 200; }",
            timeout=WAIT_MS,
        )

        # THEN while it grows, the newest line stays in view
        at_bottom = "(m) => m.scrollHeight - m.scrollTop - m.clientHeight < 60"
        for _ in range(5):
            assert messages.evaluate(at_bottom)
            page.wait_for_timeout(150)
        expect(page.locator("#jump")).to_be_hidden()

        # WHEN the reader scrolls up to read
        messages.hover()
        page.mouse.wheel(0, -5_000)
        page.wait_for_function("() => document.getElementById('messages').scrollTop === 0")
        height = messages.evaluate("(m) => m.scrollHeight")
        page.wait_for_function(
            f"() => document.getElementById('messages').scrollHeight > {height} + 40",
            timeout=WAIT_MS,
        )

        # THEN the text grows below without pulling them down, and a button offers the way back
        assert messages.evaluate("(m) => m.scrollTop") == 0
        expect(page.locator("#jump")).to_be_visible()

        # WHEN they take it, the thread follows again
        page.click("#jump")
        expect(page.locator("#jump")).to_be_hidden()
        assert messages.evaluate(at_bottom)
        expect(page.locator(".message.assistant")).to_have_attribute(
            "data-status", "complete", timeout=WAIT_MS
        )
        assert messages.evaluate(at_bottom)
    finally:
        _close(page)


def test_after_a_stack_restart_the_page_signs_in_again_into_a_clean_state(
    browser: Browser, tmp_path: Path
) -> None:
    # GIVEN a page signed in to a stack, with a conversation open
    ports = {"WS_PORT": str(free_port()), "AWS_PORT": str(free_port())}
    state = {"LOCAL_STATE_DIR": str(tmp_path / "state"), "MODEL_TOKENS": "10"}
    first = start_stack(tmp_path / "a", **state, **ports)
    second: Stack | None = None
    page = _open(browser, first.url)
    try:
        _sign_in(page)
        _send(page, "remember me")
        expect(page.locator(".message.assistant")).to_have_attribute(
            "data-status", "complete", timeout=WAIT_MS
        )
        expect(page.locator("#conversations li button")).to_have_count(1)

        # WHEN the stack restarts (empty tables, a new user pool: the old token is refused)
        first.stop()
        expect(page.locator("#badge")).to_have_text("Connecting…", timeout=WAIT_MS)
        expect(page.locator("#send")).to_be_disabled()
        second = start_stack(tmp_path / "b", **state, **ports)

        # THEN the page signs in to the new pool by itself and shows the stack as it is:
        # no old thread, no red NOT_FOUND, a new conversation ready to use
        try:
            expect(page.locator("#badge")).to_have_text(
                "Real-time (signed in as demo@example.com)", timeout=60_000
            )
        except AssertionError as err:
            raise AssertionError(f"{err}\nnotice: {page.text_content('#notice')}") from None
        expect(page.locator("#conversations")).to_have_text(
            "No conversations yet.", timeout=WAIT_MS
        )
        expect(page.locator(".message")).to_have_count(0)
        expect(page.locator("#conversation-title")).to_have_text("New conversation")
        expect(page.locator("#chat-error")).to_have_text("")
        expect(page.locator("#notice")).to_contain_text("no longer on the server")

        # ... and a message sent now is answered
        _send(page, "are you back?")
        expect(page.locator(".message.assistant")).to_have_attribute(
            "data-status", "complete", timeout=WAIT_MS
        )
        expect(page.locator(".message.assistant .body")).to_contain_text("You said: are you back?")
    finally:
        _close(page)
        for running in (first, second):
            if running is not None and running.process.poll() is None:
                running.stop()
