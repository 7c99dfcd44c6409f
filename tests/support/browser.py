"""Headless Chromium for the console's tests: Debian's package (``make test`` installs
it through scripts/find-chromium.sh when it can), driven by Playwright."""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["CHROMIUM_ARGS", "chromium_path"]

# As the machine's own probe runs it: no sandbox as root, and nothing that reaches for
# Google's hosts on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )
    if not path:
        pytest.fail(
            "The console's browser tests need headless Chromium: run them through "
            "`make test` (it installs Debian's chromium when it can), install it "
            "(`apt-get install chromium`), or set CHROMIUM=/path/to/chrome.",
            pytrace=False,
        )
    return path
