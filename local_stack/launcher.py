"""Runs ``python -m local_stack`` as a child process on free ports and waits until it is
ready: for the end-to-end tests, the load benchmark and anything else that needs a
whole stack for a while."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from local_stack.provisioning.provision import sign_in

__all__ = ["Stack", "free_port", "start_stack"]

ROOT = Path(__file__).resolve().parent.parent


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
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.state["awsEndpointUrl"],
            region_name=self.state["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 (the embedded AWS takes any)
        )

    def stop(self) -> float:
        """SIGTERM, as Ctrl-C or a supervisor would; returns how long it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=15)
        return time.monotonic() - started


def start_stack(tmp: Path, **env: str) -> Stack:
    tmp.mkdir(parents=True, exist_ok=True)
    state_dir = Path(env.get("LOCAL_STATE_DIR") or tmp / "state")
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
