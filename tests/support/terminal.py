"""A command-line tool driven as a person drives it: stdin held open like a terminal's,
what it prints collected as it comes."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


class Terminal:
    """The chat client with its stdin held open, as a terminal holds it."""

    def __init__(self, state_dir: Path, *args: str, module: str = "local_stack.tools.chat") -> None:
        # The environment CI has: no AWS settings, and stdout buffered as a pipe's is
        # (a developer's shell may set PYTHONUNBUFFERED and hide a missing flush).
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AWS_") and k != "PYTHONUNBUFFERED"
        }
        env["LOCAL_STATE_DIR"] = str(state_dir)
        self.process = subprocess.Popen(  # noqa: S603 (our own module)
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.output = ""
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        """As it comes, not line by line: a streamed answer is one line until it ends."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        decoder = codecs.getincrementaldecoder("utf-8")()
        while chunk := os.read(fd, 4096):
            self.output += decoder.decode(chunk)

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline, f"never saw {text!r} in:\n{self.output}"
            time.sleep(0.05)

    def exit_code(self, timeout: float = 60) -> int:
        """The exit code; the bound only catches a hang (how fast is `make bench`'s)."""
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
