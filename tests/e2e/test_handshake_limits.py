"""The handshake limits of a locked-down stack, over real sockets through the local
gateway: browser origins outside the allow-list (403) and a user's connection cap (429)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest
import websockets
from websockets.asyncio.client import connect

from local_stack.launcher import Stack, start_stack
from tests.support.waiting import eventually_async

pytestmark = pytest.mark.e2e

ALLOWED = "https://app.example.com"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("limits"),
        PARAMETER_OVERRIDES=f"MaxConnectionsPerUser=2 AllowedOrigins={ALLOWED}",
    )
    yield running
    running.stop()


async def _status(url: str, **kwargs: object) -> int:
    try:
        async with connect(url, **kwargs):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


def test_only_allowed_browser_origins_and_non_browsers_may_connect(stack: Stack) -> None:
    async def scenario() -> list[int]:
        return [
            await _status(stack.url, origin=ALLOWED),
            await _status(stack.url, origin="https://evil.example"),
            await _status(stack.url),  # no Origin: a CLI or a server
        ]

    assert asyncio.run(scenario()) == [101, 403, 101]


def test_a_users_third_connection_is_refused_until_one_closes(stack: Stack) -> None:
    url = f"{stack.url}?token={stack.tokens()['idToken']}"

    async def scenario() -> list[int]:
        async with AsyncExitStack() as tabs:
            first = await tabs.enter_async_context(connect(url))
            await tabs.enter_async_context(connect(url))
            third = await _status(url)
            await first.close()
            # $disconnect runs after the close: refused until it has
            after_one_closed = await eventually_async(
                lambda: _accepted(url), what="a connection once one closed"
            )
            anonymous = [await _status(stack.url) for _ in range(3)]  # not a user's
        return [third, after_one_closed, *anonymous]

    assert asyncio.run(scenario()) == [429, 101, 101, 101, 101]


async def _accepted(url: str) -> int:
    status = await _status(url)
    return status if status != 429 else 0
