"""The Makefile as a new user meets it: `make help` lists every target, `make run`
installs only what running needs, `make deploy` checks credentials before anything
slow, and `make chat` takes its flags as make variables. Dry runs only (`make -n`):
nothing is installed or started."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _make(*args: str) -> str:
    ran = subprocess.run(  # noqa: S603
        ["make", "--no-print-directory", *args],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return ran.stdout


def test_make_help_lists_every_target() -> None:
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert phony is not None
    listed = {line.split()[1] for line in _make("-s", "help").splitlines() if line.strip()}
    assert set(phony.group(1).split()) <= listed


def test_make_run_installs_what_running_needs_and_not_the_test_tools(tmp_path: Path) -> None:
    planned = _make("-n", "run", f"VENV={tmp_path / 'venv'}")
    assert "-r requirements/run.txt" in planned
    assert "dev.txt" not in planned
    run = (ROOT / "requirements" / "run.txt").read_text()
    assert not {"pytest", "mypy", "playwright", "matplotlib"} & set(
        re.findall(r"^[\w-]+", run, re.M)
    )


def test_make_deploy_checks_credentials_before_installing_sam_or_building(tmp_path: Path) -> None:
    planned = _make("-n", "deploy", "ENV=dev", f"TOOLS_VENV={tmp_path / 'tools'}")
    check = planned.index("deploy.py dev --check")
    assert check < planned.index("requirements/tools.txt")
    assert check < planned.index("build --config-env dev")


def test_make_chat_passes_its_flags_through_make_variables() -> None:
    planned = _make("-n", "chat", "CONVERSATION=cli-123", "ANONYMOUS=1")
    assert "local_stack.tools.chat --conversation cli-123" in planned
    assert "--anonymous" in planned
