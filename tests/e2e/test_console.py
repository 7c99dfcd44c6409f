"""The browser console, served by the local gateway and driven in headless Chromium:
what a developer sees after `make run` and opening http://127.0.0.1:3001/."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from websockets.sync.client import connect

from local_stack.launcher import ROOT, Stack, start_stack
from tests.support.browser import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS") or ROOT / ".artifacts")
WAIT_MS = 20_000  # generous: CI machines are slow, and expect() returns as soon as it holds


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # 120 tokens 20 ms apart: a reply streams for about 2.5 s, long enough to watch,
    # stop and resume.
    running = start_stack(
        tmp_path_factory.mktemp("console"), MODEL_TOKENS="120", MODEL_TOKEN_DELAY="0.02"
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda err: errors.append(str(err)))
    opened.goto(_http(stack) + "/")
    expect(opened.locator("body")).to_have_attribute("data-ready", "true")
    yield opened
    context.close()
    assert errors == [], errors  # no script error on the way


def _http(stack: Stack) -> str:
    return stack.url.replace("ws://", "http://", 1)


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _sign_in(page: Page) -> None:
    page.click("#sign-in")
    expect(page.locator("#badge")).to_have_text(
        "Real-time (signed in as demo@example.com)", timeout=WAIT_MS
    )


def _send(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")


def _record_reply_renders(page: Page) -> None:
    """From now on, note the reply's status and text at every change of the page."""
    page.evaluate(
        """() => {
          window.renders = [];
          new MutationObserver(() => {
            const reply = document.querySelector('.message.assistant');
            if (reply) window.renders.push(
              [reply.dataset.status, reply.querySelector('.body').textContent]);
          }).observe(document.getElementById('messages'),
                     {subtree: true, childList: true, characterData: true, attributes: true});
        }"""
    )


def _connection_id(page: Page) -> str:
    expect(page.locator("#debug-output")).to_contain_text('"connectionId"', timeout=WAIT_MS)
    status: dict[str, Any] = json.loads(page.text_content("#debug-output") or "{}")
    return str(status["connectionInfo"]["connectionId"])


def _stored_reply(stack: Stack) -> str:
    """The newest assistant message the backend stored, asked over a socket of our own."""
    with connect(f"{stack.url}?token={stack.tokens()['idToken']}") as ws:
        ws.send(json.dumps({"action": "list_conversations", "data": {"limit": 1}}))
        newest = json.loads(ws.recv(timeout=10))["conversations"][0]["conversationId"]
        ws.send(json.dumps({"action": "chat_history", "data": {"conversationId": newest}}))
        history = json.loads(ws.recv(timeout=10))
    return str([m for m in history["messages"] if m["role"] == "assistant"][-1]["content"])


# ---------------------------------------------------------------------- the site
def test_the_gateway_serves_the_page_its_files_and_this_stacks_settings(stack: Stack) -> None:
    # GIVEN a running local stack
    base = _http(stack)

    # WHEN a browser asks for the page, a script of it and its settings
    page_status, page_headers, html = _get(base + "/")
    script_status, script_headers, _ = _get(base + "/console.js")
    library_status, library_headers, library = _get(base + "/client/realtime-chat-client.js")
    config_status, _, config = _get(base + "/config.json")

    # THEN the page comes with a policy that loads nothing from elsewhere
    assert page_status == 200 and b'<span id="badge"' in html
    assert "script-src 'self'" in page_headers["Content-Security-Policy"]
    assert script_status == 200 and script_headers["Content-Type"].startswith("text/javascript")
    # ... nor the client library it imports, served beside it
    assert library_status == 200 and b"export class RealtimeChatClient" in library
    assert "script-src 'self'" in library_headers["Content-Security-Policy"]
    # ... and the settings name this stack's WebSocket, pool client and demo user
    settings = json.loads(config)
    assert config_status == 200
    assert settings["websocketUrl"] == stack.url
    assert settings["userPoolClientId"] == stack.state["userPoolClientId"]
    assert settings["demoUser"]["username"] == stack.state["demoUser"]["username"]


def test_only_the_consoles_own_files_are_served(stack: Stack) -> None:
    base = _http(stack)
    for path in (
        "/stack.py",
        "/..%2Ftemplate.yaml",
        "/Makefile",
        "/nope.js",
        "/client/README.md",
        "/client/realtime-chat-client.d.ts",
        "/client/..%2FMakefile",
        "/client/test/unit/client.test.js",
    ):
        status, _, _ = _get(base + path)
        assert status in (403, 404), path  # 403: API Gateway's answer for a wrong stage
    # A non-browser GET of the stage is still API Gateway's "expected an upgrade"
    status, _, _ = _get(base + "/" + stack.state["stage"])
    assert status == 426


# ---------------------------------------------------------------------- the browser
def test_an_anonymous_connection_is_real_time_and_chat_says_to_sign_in(page: Page) -> None:
    # WHEN the developer connects anonymously
    page.click("#anonymous")

    # THEN the badge says real-time, and debug_status shows who the server thinks we are
    expect(page.locator("#badge")).to_have_text("Real-time (anonymous)", timeout=WAIT_MS)
    expect(page.locator("#debug-output")).to_contain_text('"isAuthenticated": false')

    # WHEN they try to chat
    _send(page, "hello?")

    # THEN the error names its code and says what to do
    error = page.locator("#chat-error")
    expect(error).to_contain_text("AUTH_REQUIRED", timeout=WAIT_MS)
    expect(error).to_contain_text("Sign in")
    expect(page.locator(".message.user")).to_have_attribute("data-status", "error")
    # ... and the refused text is back in the box, to send again after signing in
    expect(page.locator("#message")).to_have_value("hello?")


def test_a_signed_in_chat_shows_the_reply_growing_as_it_streams(page: Page, stack: Stack) -> None:
    # GIVEN the demo user signed in through the page (the embedded Cognito)
    _sign_in(page)
    _record_reply_renders(page)

    # WHEN they send a message
    _send(page, "Tell me about WebSockets")

    # THEN the reply is rendered several times while it streams, then once final
    reply = page.locator(".message.assistant")
    expect(reply).to_have_attribute("data-status", "complete", timeout=WAIT_MS)
    final = page.text_content(".message.assistant .body")
    renders = page.evaluate("() => window.renders")
    growing = [text for status, text in renders if status == "streaming" and text]
    assert len(set(growing)) >= 2, renders
    # ... each render the start of the answer, never shorter than the one before
    assert all(final.startswith(text) for text in growing), renders
    assert [len(t) for t in growing] == sorted(len(t) for t in growing)
    # ... and what the page shows is what the backend stored
    assert final == _stored_reply(stack)
    expect(page.locator("#conversations li")).to_have_count(1)
    expect(page.locator("#chat-error")).to_have_text("")  # nothing went wrong on the way

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-signed-in.png"))


def test_a_server_side_close_is_followed_by_a_reconnect_that_resumes_the_reply(
    page: Page, stack: Stack
) -> None:
    # GIVEN a signed-in page with a reply streaming
    _sign_in(page)
    first = _connection_id(page)
    _send(page, "A long answer, please")
    expect(page.locator(".message.assistant .body")).to_have_text(re.compile(r"\S"))

    # WHEN the server closes the connection (as an idle timeout or a deploy would)
    gateway = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{_http(stack)}/{stack.state['stage']}",
        region_name=stack.state["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    gateway.delete_connection(ConnectionId=first)

    # THEN the page reconnects on its own, on a new connection
    expect(page.locator("#debug-output")).not_to_contain_text(first, timeout=WAIT_MS)
    expect(page.locator("#badge")).to_have_text(re.compile("^Real-time"), timeout=WAIT_MS)
    # ... and the reply carries on from where it was, to the very word the server stored
    reply = page.locator(".message.assistant")
    expect(reply).to_have_attribute("data-status", "complete", timeout=WAIT_MS)
    assert page.text_content(".message.assistant .body") == _stored_reply(stack)


def test_the_stop_button_stops_a_streaming_reply(page: Page) -> None:
    # GIVEN a reply streaming in a signed-in page
    _sign_in(page)
    _send(page, "Go on for a while")
    stop = page.locator("#stop")
    expect(stop).to_be_visible(timeout=WAIT_MS)

    # WHEN the developer presses Stop
    stop.click()

    # THEN the reply ends as stopped, and the button goes away
    expect(page.locator(".message.assistant")).to_have_attribute(
        "data-status", "stopped", timeout=WAIT_MS
    )
    expect(stop).to_be_hidden()


def test_a_refused_token_is_explained_in_plain_words(page: Page, stack: Stack) -> None:
    # GIVEN a token the server will not accept (signed by another key)
    forged = stack.tokens()["idToken"].rsplit(".", 1)[0] + ".c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ"
    page.fill("#token", forged)

    # WHEN the developer connects with it
    page.click("#use-token")

    # THEN the page says the server refused it and what to do, instead of only 1006
    expect(page.locator("#notice")).to_contain_text("The server refused the token", timeout=WAIT_MS)
    expect(page.locator("#notice")).to_contain_text("sign in again")
    expect(page.locator("#badge")).to_have_text("Offline")
    # ... and the frames panel never shows a token in full
    expect(page.locator("#frames")).not_to_contain_text(forged)


def test_a_40000_character_paste_is_refused_in_the_page_and_the_text_is_kept(
    page: Page,
) -> None:
    # GIVEN a signed-in page on one connection
    _sign_in(page)
    before = _connection_id(page)
    pasted = "0123456789" * 4_000

    # WHEN the developer pastes 40,000 characters and presses Enter
    page.fill("#message", pasted)
    page.press("#message", "Enter")

    # THEN the page refuses it itself, says why and what to do, and keeps every character
    error = page.locator("#chat-error")
    expect(error).to_contain_text("MESSAGE_TOO_LARGE", timeout=WAIT_MS)
    expect(error).to_contain_text("40,000 characters; the limit is 8,000")
    expect(error).to_contain_text("Shorten the message.")
    assert page.input_value("#message") == pasted
    expect(page.locator(".message")).to_have_count(0)
    # ... nothing went to the server, so the connection was never closed with 1009
    expect(page.locator("#frames")).not_to_contain_text("chat_message")
    expect(page.locator("#badge")).to_have_text("Real-time (signed in as demo@example.com)")
    page.click("#toggle-debug")
    page.click("#debug-status")
    expect(page.locator("#debug-output")).to_contain_text(before)

    # WHEN it is shortened to fit, it goes
    page.fill("#message", pasted[:8_000])
    page.press("#message", "Enter")
    expect(page.locator(".message.user")).to_have_attribute(
        "data-status", "complete", timeout=WAIT_MS
    )
    expect(error).to_have_text("")
    assert page.input_value("#message") == ""


def test_enter_sends_shift_enter_starts_a_line_and_escape_stops_the_reply(page: Page) -> None:
    # GIVEN a signed-in page
    _sign_in(page)

    # WHEN the developer types two lines with Shift+Enter between them
    page.click("#message")
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")

    # THEN nothing is sent yet, and the text box holds both lines
    assert page.input_value("#message") == "line one\nline two"
    expect(page.locator(".message")).to_have_count(0)

    # WHEN they press Enter
    page.keyboard.press("Enter")

    # THEN the message goes as typed, and a reply starts streaming
    expect(page.locator(".message.user .body")).to_have_text("line one\nline two")
    reply = page.locator(".message.assistant")
    expect(reply).to_have_attribute("data-status", "streaming", timeout=WAIT_MS)

    # WHEN they press Escape
    page.keyboard.press("Escape")

    # THEN the reply stops
    expect(reply).to_have_attribute("data-status", "stopped", timeout=WAIT_MS)
    expect(page.locator("#stop")).to_be_hidden()


def test_offline_the_send_button_is_disabled_and_enter_keeps_the_text(page: Page) -> None:
    # GIVEN a page that is not connected
    expect(page.locator("#send")).to_be_disabled()

    # WHEN the developer types a message and presses Enter anyway
    _send(page, "hello while offline")

    # THEN the page says it is not connected and the text stays
    expect(page.locator("#chat-error")).to_contain_text("NOT_CONNECTED")
    assert page.input_value("#message") == "hello while offline"

    # WHEN they connect, the error goes away and Send is enabled
    _sign_in(page)
    expect(page.locator("#chat-error")).to_have_text("")
    expect(page.locator("#send")).to_be_enabled()

    # WHEN they disconnect: a plain notice, not an error, and no stale debug_status
    page.click("#disconnect")  # the panel stays beside the chat at 1,280 px
    expect(page.locator("#notice")).to_have_text("Disconnected.")
    expect(page.locator("#notice")).to_have_attribute("data-kind", "info")
    expect(page.locator("#debug-output")).to_have_text("Not connected.")
    expect(page.locator("#send")).to_be_disabled()


def test_a_reply_is_rendered_as_markdown_and_html_in_it_stays_text(page: Page) -> None:
    # GIVEN a signed-in page (the local model echoes the question)
    _sign_in(page)

    # WHEN the reply holds Markdown and HTML
    _send(page, "**bold** `inline` <img src=x onerror=alert(1)> <script>alert(2)</script>")

    # THEN the Markdown is rendered, and the HTML is shown as text, never as elements
    reply = page.locator(".message.assistant")
    expect(reply).to_have_attribute("data-status", "complete", timeout=WAIT_MS)
    expect(reply.locator(".body strong")).to_have_text("bold")
    expect(reply.locator(".body code")).to_have_text("inline")
    expect(reply.locator(".body")).to_contain_text("<img src=x onerror=alert(1)>")
    expect(reply.locator("img, script")).to_have_count(0)

    # ... and a fenced code block (from the page's own renderer) keeps its lines
    html = page.evaluate(
        """async () => {
          const { renderMarkdown } = await import('/markdown.js');
          const box = document.createElement('div');
          box.append(renderMarkdown('Run:\\n```js\\nif (a < b) {\\n  go();\\n}\\n```'));
          return box.innerHTML;
        }"""
    )
    assert '<pre><code data-lang="js">if (a &lt; b) {\n  go();\n}</code></pre>' in html


def test_at_800_pixels_the_chat_keeps_the_room_and_the_panels_slide_over(
    browser: Browser, stack: Stack
) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 700})
    page = context.new_page()
    try:
        page.goto(_http(stack) + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        # GIVEN the connection panel open over the chat, then signed in
        expect(page.locator("#connection")).to_be_visible()
        _sign_in(page)
        # THEN the panel gets out of the way, and the thread has most of the width
        expect(page.locator("#connection")).to_be_hidden()
        box = page.locator("#messages").bounding_box()
        assert box is not None and box["width"] >= 500, box
        # ... the debug panel opens on demand and fits the window
        page.click("#toggle-debug")
        debug = page.locator("#debug").bounding_box()
        assert debug is not None and debug["x"] + debug["width"] <= 800, debug
    finally:
        context.close()
