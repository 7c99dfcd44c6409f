"""What the local Lambda runtime's forkserver imports once, so that every worker forked
from it starts warm: the heavy libraries, and botocore's parsed data files.

botocore reads and parses the same static JSON (endpoints, partitions, each service's
model) for every new session, which made each worker's init cost about 0.5 s of CPU.
Here each file is parsed once per forkserver and shared by the workers it forks. The
data is static and versioned with botocore, so sharing it changes no behaviour; what
a function does at init (reading its environment, creating its clients) still happens
in each worker, as in Lambda. Real cold starts are measured by ``make bench``, in fresh
interpreters, without this.
"""

from __future__ import annotations

import compileall
import functools
from pathlib import Path
from typing import Any

import aws_lambda_powertools  # noqa: F401 (imported for the workers)
import boto3  # noqa: F401
import botocore.loaders
import botocore.session
import jose.jwt  # noqa: F401
import requests  # noqa: F401

SERVICES = ("dynamodb", "lambda", "apigatewaymanagementapi", "secretsmanager")


def _share_parsed_files() -> None:
    loader = botocore.loaders.JSONFileLoader
    if getattr(loader.load_file, "shared", False):
        return
    original = loader.load_file
    reader = loader()

    @functools.cache
    def load_file(file_path: str) -> Any:  # by path alone: every session has its own loader
        return original(reader, file_path)

    def shared(self: Any, file_path: str) -> Any:
        return load_file(file_path)

    shared.shared = True  # type: ignore[attr-defined]
    loader.load_file = shared  # type: ignore[method-assign]


def _compile_project() -> None:
    """Bytecode for the functions and the layer, written once: with
    PYTHONDONTWRITEBYTECODE set, every worker would compile them from source."""
    root = Path(__file__).resolve().parents[2]
    for folder in (root / "functions", root / "layers"):
        compileall.compile_dir(folder, quiet=1)


def _warm() -> None:
    session = botocore.session.get_session()
    for service in SERVICES:
        session.create_client(
            service,
            region_name="us-east-1",
            aws_access_key_id="preload",
            aws_secret_access_key="preload",  # noqa: S106 (never used: no request is made)
        )


_share_parsed_files()
_warm()
_compile_project()
