"""What `sam build` ships: the unzipped size of each function and of the layer, which
Lambda caps at 250 MB together. Needs the tools venv and Python 3.13 (skipped, with
a note, when they are missing)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

__all__ = ["package_sizes"]

ROOT = Path(__file__).resolve().parent.parent


def package_sizes() -> dict[str, float]:
    sam = ROOT / ".venv-tools" / "bin" / "sam"
    found = subprocess.run(
        [str(ROOT / "scripts" / "find-python.sh"), "--lambda"],
        capture_output=True,
        text=True,
        check=False,
    )
    if not sam.exists() or found.returncode != 0:
        print("package size: skipped (needs `make setup` and Python 3.13)")
        return {}
    python_dir = Path(found.stdout.strip()).parent
    path = os.pathsep.join((str(python_dir), str(sam.parent), os.environ["PATH"]))
    with tempfile.TemporaryDirectory() as build:
        subprocess.run(
            [str(sam), "build", "--build-dir", build, "--template", str(ROOT / "template.yaml")],
            cwd=ROOT,
            env={**os.environ, "PATH": path},
            capture_output=True,
            check=True,
        )
        sizes = {d.name: _megabytes(d) for d in Path(build).iterdir() if d.is_dir()}
    layer = sizes.pop("ChatLibraryLayer", 0.0)
    return {
        "package_layer_mb": layer,
        "package_largest_function_mb": max(sizes.values(), default=0.0),
        "package_largest_function_and_layer_mb": layer + max(sizes.values(), default=0.0),
    }


def _megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
