"""The dev loop's mistakes get one line saying what to do, never a traceback: bad
settings for `make run`, a bad event file for `make invoke`, `make smoke` against a
deployed stack without credentials or endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.stack import BadSetting, StackConfig
from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(  # noqa: S603 (our own modules)
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**base, "PYTHONPATH": f"{ROOT / 'layers' / 'realtime_chat'}{os.pathsep}{ROOT}", **env},
        timeout=120,
        check=False,
    )


def _one_line(ran: subprocess.CompletedProcess[str]) -> str:
    assert ran.returncode == 2, ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("WS_PORT", "abc", "WS_PORT=abc is not a number"),
        ("WS_PORT", "99999", "WS_PORT=99999 must be a whole number from 1 to 65535"),
        ("AWS_PORT", "0", "AWS_PORT=0 must be a whole number from 1 to 65535"),
        ("MAX_WORKERS", "2.5", "MAX_WORKERS=2.5 must be a whole number"),
        ("MODEL_TOKEN_DELAY", "-1", "MODEL_TOKEN_DELAY=-1 must be 0 or more"),
    ],
)
def test_a_bad_setting_is_named_before_anything_starts(
    variable: str, value: str, said: str
) -> None:
    with pytest.raises(BadSetting, match=said):
        StackConfig.from_env({variable: value})


def test_make_run_with_a_port_that_is_not_one_says_so_in_a_line() -> None:
    line = _one_line(_run("local_stack", WS_PORT="99999"))
    assert line.startswith("make run: WS_PORT=99999")


def test_make_invoke_with_a_missing_event_file_says_so_in_a_line() -> None:
    line = _one_line(_run("local_stack.tools.invoke", "DefaultFunction", "events/nope.json"))
    assert "cannot read the event file events/nope.json" in line


def test_make_invoke_with_an_event_file_that_is_not_json_says_so_in_a_line(
    tmp_path: Path,
) -> None:
    event = tmp_path / "event.json"
    event.write_text("{not json")
    line = _one_line(_run("local_stack.tools.invoke", "DefaultFunction", str(event)))
    assert f"{event} is not JSON" in line


def test_make_smoke_on_a_deployed_stack_without_credentials_says_so_in_a_line(
    tmp_path: Path,
) -> None:
    nowhere = str(tmp_path / "none")
    line = _one_line(
        _run(
            "local_stack.tools.smoke",
            "--stack",
            "chat-dev",
            "--username",
            "u",
            "--password",
            "p",
            AWS_CONFIG_FILE=nowhere,
            AWS_SHARED_CREDENTIALS_FILE=nowhere,
            AWS_EC2_METADATA_DISABLED="true",
        )
    )
    assert "no AWS credentials to read the outputs of chat-dev" in line


def test_make_smoke_on_a_deployed_stack_it_cannot_reach_says_so_in_a_line() -> None:
    line = _one_line(
        _run(
            "local_stack.tools.smoke",
            "--stack",
            "chat-dev",
            "--username",
            "u",
            "--password",
            "p",
            AWS_ACCESS_KEY_ID="x",
            AWS_SECRET_ACCESS_KEY="x",
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
            AWS_MAX_ATTEMPTS="1",
        )
    )
    assert "cannot read the outputs of chat-dev" in line
