"""The client library (client/) in Node against a local stack over real sockets: runs
``node --test client/test/e2e/`` with this stack's settings and tokens it mints, and
fails with Node's own report when any of those tests fails."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from importlib import resources

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local_stack.launcher import ROOT, Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # 150 tokens 20 ms apart: a reply streams for about 3 s, long enough to drop a
    # connection under it or stop it.
    running = start_stack(
        tmp_path_factory.mktemp("client"), MODEL_TOKENS="150", MODEL_TOKEN_DELAY="0.02"
    )
    yield running
    running.stop()


def _signing_key() -> str:
    """The private key the embedded Cognito (moto) signs every pool's tokens with, as PEM."""
    packed = resources.files("moto") / "cognitoidp" / "resources" / "jwks-private.json.gz"
    jwk = json.loads(gzip.decompress(packed.read_bytes()))
    n, e, d = (int.from_bytes(base64.urlsafe_b64decode(jwk[k] + "=="), "big") for k in "ned")
    p, q = rsa.rsa_recover_prime_factors(n, e, d)
    numbers = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, n),
    )
    pem = numbers.private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


def _node() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("The client library's e2e tests need Node.js on PATH.", pytrace=False)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)  # noqa: S603
    major = int(re.match(r"v(\d+)", version.stdout).group(1))  # type: ignore[union-attr]
    # WebSocket is built in from Node 22; Node 20 and 21 have it behind this flag.
    return [node, "--experimental-websocket"] if major < 22 else [node]


def test_the_client_library_works_against_a_real_stack(stack: Stack) -> None:
    # The tests mint tokens that expire when they need them to: the stack's own
    # claims, signed with its own key.
    env = {
        **os.environ,
        "STACK_JSON": json.dumps(stack.state),
        "SIGNING_KEY": _signing_key(),
    }
    run = subprocess.run(  # noqa: S603 (node from PATH, our own test files)
        [*_node(), "--test", "--test-reporter=tap", "client/test/e2e/"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    passed = re.search(r"^# pass (\d+)$", report, re.M)
    assert passed and int(passed.group(1)) >= 8, report  # every test ran
    assert re.search(r"^# fail 0$", report, re.M), report
