"""The local stack under load, at a size CI can afford: many signed-in users chatting at
once over real sockets. What each client received must be whole, in order, and equal to
what was stored; replies stream side by side. Latency targets live in `make bench`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from benchmarks.load import run_load
from local_stack.launcher import Stack, start_stack

pytestmark = pytest.mark.e2e

USERS, TURNS = 8, 2


@pytest.fixture(scope="module")
def busy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Replies of about 2 s (40 tokens, 50 ms apart), so that they overlap
    running = start_stack(tmp_path_factory.mktemp("load"), MODEL_TOKEN_DELAY="0.05")
    yield running
    running.stop()
    assert running.process.returncode == 0, running.log.read_text()[-3000:]


def test_many_users_chatting_at_once_each_get_every_word_in_order(busy_stack: Stack) -> None:
    # WHEN 8 users send 2 chat turns each, all at the same time
    result = asyncio.run(run_load(busy_stack, users=USERS, turns=TURNS))
    # THEN every turn was acknowledged, streamed without a gap and answered, each answer
    # equal to its chunks joined and to what the stack stored
    assert result.problems == []
    assert len(result.turns) == USERS * TURNS
    assert all(t.final and t.seqs for t in result.turns)
    # AND replies streamed side by side: more than the 4 a fixed pool of workers allowed
    assert result.max_streaming > 4
    # AND the pinging connection was answered throughout
    assert result.pings_ms
