"""The local stack as a user runs it (python -m local_stack), on free ports, for e2e tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_stack.provision import sign_in

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    state: dict[str, Any]
    log: Path

    @property
    def url(self) -> str:
        return str(self.state["websocketUrl"])

    def tokens(self) -> dict[str, str]:
        user = self.state["demoUser"]
        return sign_in(
            endpoint=self.state["awsEndpointUrl"],
            region=self.state["region"],
            client_id=self.state["userPoolClientId"],
            username=user["username"],
            password=user["password"],
        )

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.state["awsEndpointUrl"],
            region_name=self.state["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def stop(self) -> float:
        """SIGTERM, as Ctrl-C or a supervisor would; returns how long it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=15)
        return time.monotonic() - started


def start_stack(tmp: Path, **env: str) -> Stack:
    state_dir = tmp / "state"
    log = tmp / "stack.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "WS_PORT": str(free_port()),
        "AWS_PORT": str(free_port()),
        "LOCAL_STATE_DIR": str(state_dir),
        "MODEL_TOKEN_DELAY": "0.01",
        "PYTHONPATH": f"{ROOT / 'layers' / 'realtime_chat'}{os.pathsep}{ROOT}",
        **env,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_stack"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    state_file = state_dir / "stack.json"
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the local stack did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return Stack(process, json.loads(state_file.read_text()), log)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), IDLE_TIMEOUT_SECONDS="4")
    yield running
    seconds = running.stop()
    assert running.process.returncode == 0, running.log.read_text()[-3000:]
    assert seconds < 5
    assert not (running.log.parent / "state" / "stack.json").exists()  # tools see it stopped
