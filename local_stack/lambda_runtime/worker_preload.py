"""What the local Lambda runtime's forkserver imports once, so that every worker forked
from it starts warm: the heavy libraries, and what botocore derives from its static
data files.

For every new session botocore parses the same static JSON (endpoints, partitions,
each service's model), lists its data directories (a ``stat`` per service, about
400), and for every new client builds one method, with its docstring, per API
operation (57 for DynamoDB). That made each worker's init cost about 0.5 s of CPU,
and under a burst (twenty replies need twenty new workers) these inits took a third
of the machine. Here each is done once per forkserver and shared by the workers it
forks. It is all static and versioned with botocore, so sharing it changes no
behaviour; what a function does at init (reading its environment, creating its
clients) still happens in each worker, as in Lambda. Real cold starts are measured
by ``make bench``, in fresh interpreters, without this.
"""

from __future__ import annotations

import compileall
import functools
from pathlib import Path
from typing import Any

import aws_lambda_powertools  # noqa: F401 (imported for the workers)
import boto3.session
import botocore.client
import botocore.loaders
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


def _share_service_listing() -> None:
    loader = botocore.loaders.Loader
    if getattr(loader.list_available_services, "shared", False):
        return
    original = loader.list_available_services
    listed: dict[tuple[tuple[str, ...], str], list[str]] = {}

    def shared(self: Any, type_name: str) -> list[str]:
        key = (tuple(self.search_paths), type_name)
        if key not in listed:
            listed[key] = original(self, type_name)
        return list(listed[key])

    shared.shared = True  # type: ignore[attr-defined]
    loader.list_available_services = shared  # type: ignore[method-assign]


def _share_client_methods() -> None:
    """One set of operation methods per service model: each only calls
    ``self._make_api_call(<operation>, kwargs)``; the class around them, and every
    client, is still made per client."""
    creator: Any = botocore.client.ClientCreator
    if getattr(creator._create_methods, "shared", False):
        return
    original = creator._create_methods
    made: dict[tuple[str, str], dict[str, Any]] = {}

    def shared(self: Any, service_model: Any) -> dict[str, Any]:
        key = (service_model.service_name, service_model.api_version)
        if key not in made:
            made[key] = original(self, service_model)
        return dict(made[key])  # handlers of creating-client-class may add to it

    shared.shared = True  # type: ignore[attr-defined]
    creator._create_methods = shared


def _compile_project() -> None:
    """Bytecode for the functions and the layer, written once: with
    PYTHONDONTWRITEBYTECODE set, every worker would compile them from source."""
    root = Path(__file__).resolve().parents[2]
    for folder in (root / "functions", root / "layers"):
        compileall.compile_dir(folder, quiet=1)


def _warm() -> None:
    """A boto3 session's clients, as the functions create theirs (boto3 adds its own
    data directory to botocore's search path, so a bare botocore session would not do)."""
    session = boto3.session.Session(
        region_name="us-east-1",
        aws_access_key_id="preload",
        aws_secret_access_key="preload",  # noqa: S106 (never used: no request is made)
    )
    for service in SERVICES:
        session.client(service)  # type: ignore[call-overload]


_share_parsed_files()
_share_service_listing()
_share_client_methods()
_warm()
_compile_project()
