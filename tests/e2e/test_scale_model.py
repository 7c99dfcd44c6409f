"""The scaling model (docs/scaling.md) against reality at small scale: a mixed load on
the local stack with every DynamoDB and SQS request recorded. The model's requests and
posts per turn hold within 20 %, and no key outside one user's or one connection's
takes more than a small share of the writes; with the reply queue's mapping capped,
the answers per reply invocation hold within 20 % of the model's batch fill."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.client import connect

from benchmarks.load import add_users
from benchmarks.recording import Recording, recording
from benchmarks.reply_batches import reply_batches
from benchmarks.scale_model import load_inputs, per_turn, posts_per_answer
from local_stack.launcher import Stack, start_stack

pytestmark = pytest.mark.e2e

USERS, TURNS, ANONYMOUS = 6, 2, 20
TOKENS, DELAY = 120, 0.02  # answers streaming for 2.4 s
STREAMING_SECONDS = TOKENS * DELAY  # the model's answer time: the upstream's own pace
TOLERANCE = 0.20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("scale")
    running = start_stack(
        workdir,
        MODEL_TOKENS=str(TOKENS),
        MODEL_TOKEN_DELAY=str(DELAY),
        MOTO_RECORDER_FILEPATH=str(workdir / "moto-recording"),
    )
    yield running
    running.stop()


@dataclass
class Mixed:
    recording: Recording
    users: set[str]  # the signed-in users' ids (their token's sub)
    frames_per_turn: list[int] = field(default_factory=list)


def _sub(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


@pytest.fixture(scope="module")
def mixed(stack: Stack) -> Mixed:
    """Signed-in users chatting while anonymous clients come, ping and go."""
    tokens = add_users(stack, USERS)
    result = Mixed(Recording(), {_sub(t) for t in tokens})

    async def user(token: str) -> None:
        async with connect(f"{stack.url}?token={token}") as ws:
            for turn in range(TURNS):
                await ws.send(
                    json.dumps({"action": "chat_message", "data": {"message": f"q{turn}"}})
                )
                frames = 0
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    frames += 1
                    if frame["type"] == "ai_response":
                        result.frames_per_turn.append(frames)
                        break

    async def anonymous(n: int) -> None:
        await asyncio.sleep(n * 0.05)
        async with connect(stack.url) as ws:
            await ws.send(json.dumps({"action": "ping"}))
            await asyncio.wait_for(ws.recv(), 10)

    async def load() -> None:
        await asyncio.gather(*map(user, tokens), *map(anonymous, range(ANONYMOUS)))

    with recording(stack) as recorded:
        asyncio.run(load())
        time.sleep(1)  # the last replies' final writes and the $disconnects land
    result.recording = recorded
    return result


def test_requests_per_turn_match_the_model(mixed: Mixed) -> None:
    figures = load_inputs()["figures"]
    turns = USERS * TURNS
    operations = mixed.recording.operations()
    # Connections are the model's own line: take them out of the turns' requests
    # (a PutItem and a DeleteItem each, and the cap's Query for a signed-in one).
    connects = USERS + ANONYMOUS
    operations["PutItem"] -= connects
    operations["DeleteItem"] -= connects
    operations["Query"] -= USERS
    measured = sum(operations.values()) / turns
    predicted = sum(per_turn(figures, STREAMING_SECONDS).values())
    assert abs(measured - predicted) <= TOLERANCE * predicted, (measured, predicted, operations)


def test_posts_per_turn_match_the_model(mixed: Mixed) -> None:
    predicted = 2 + posts_per_answer(TOKENS, STREAMING_SECONDS)
    measured = sum(mixed.frames_per_turn) / len(mixed.frames_per_turn)
    assert abs(measured - predicted) <= TOLERANCE * predicted, (measured, predicted)


def test_no_shared_key_takes_more_than_a_small_share_of_the_writes(
    mixed: Mixed, stack: Stack
) -> None:
    writes = Counter(key for r in mixed.recording.requests for key in r.written_keys())
    total = sum(writes.values())

    def one_owner(table: str, key: str) -> bool:
        if table == f"{stack.state['connectionsTable']}/userId-index":
            return key in mixed.users  # a signed-in user's own connections
        if table == stack.state["connectionsTable"]:
            return True  # keyed by the connection's own id
        return key.startswith("USER#")  # every chat item is under its user's id

    shared = {k: n for k, n in writes.items() if not one_owner(*k)}
    assert total > 100  # the load wrote enough to judge
    assert all(n / total <= 0.02 for n in shared.values()), sorted(
        shared.items(), key=lambda kv: -kv[1]
    )[:3]
    # ... and the anonymous connections did not write to the user index at all
    assert not [k for k in writes if k[0].endswith("/userId-index") and k[1] == "anonymous"]


def test_answers_per_reply_invocation_match_the_models_batch_fill(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # GIVEN the reply queue's mapping capped at 2 concurrent invocations, and 12 users
    # chatting at once (answers of 40 tokens at 30 ms)
    workdir = tmp_path_factory.mktemp("fill")
    # WHEN they chat, 2 turns each, and the mapping's deletes are counted
    figures = reply_batches(workdir, users=12, turns=2)
    # THEN the batches held several answers each, and as many as the scale model
    # predicts for that run's turns per second and invocation length
    measured, predicted = figures["reply_fill_measured"], figures["reply_fill_predicted"]
    assert measured > 2, figures
    assert abs(measured - predicted) <= TOLERANCE * predicted, figures
