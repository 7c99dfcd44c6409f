"""The local stack as a user runs it (python -m local_stack), on free ports, for e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_stack.launcher import Stack, free_port, start_stack

__all__ = ["Stack", "free_port", "start_stack"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), IDLE_TIMEOUT_SECONDS="4")
    yield running
    running.stop()  # how long it takes is make bench's (Ctrl-C under load)
    assert running.process.returncode == 0, running.log.read_text()[-3000:]
    state = running.log.parent / "state"
    assert not (state / "stack.json").exists()  # tools see it stopped
    assert not (state / "sam-env.json").exists()
