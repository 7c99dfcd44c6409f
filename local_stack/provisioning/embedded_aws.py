"""The embedded AWS: moto's server in a process of its own, with DynamoDB made as
faithful as the local stack needs.

Out of the gateway's process, moto's work (and its memory) never stalls the
gateway's event loop. Two differences from DynamoDB are closed here:

- DynamoDB applies each request atomically; moto runs a conditional write as a
  read, a check and a write in Python, and two overlapping ``TransactWriteItems``
  can corrupt each other ("dictionary changed size during iteration"). Requests
  are serialized.
- moto backs up every table a transaction touches with a deep copy, so one turn got
  slower as the table grew (20 ms empty, 741 ms at 4,000 items). Here a transaction
  backs up only the items it names, and restores only those if it is cancelled.

``python -m local_stack.provisioning.embedded_aws --port N`` serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import copy
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

__all__ = ["EmbeddedAws", "make_dynamodb_faithful", "serialize_dynamodb"]

_LOCK = threading.RLock()


def serialize_dynamodb() -> None:
    """Make every DynamoDB request to moto (in-process or server) run one at a time."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "serialized", False):
        return

    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    call_action.serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


class _CopiesAllButTables:
    """Stands in for the ``copy`` module inside moto's ``transact_write_items``: its
    whole-table backups become no-ops; everything else is copied as before."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self._table_type) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def narrow_transaction_rollback() -> None:
    """Back up and restore only the items a transaction names (requests must be
    serialized: the swap of moto's ``copy`` below is not thread-safe)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    original = backend.transact_write_items
    if getattr(original, "narrow", False):
        return
    no_table_copies = _CopiesAllButTables(Table)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        try:
            before = [_backup(self, entry) for entry in transact_items]
        except Exception:  # an invalid request: moto's own path reports it
            return original(self, transact_items)
        module = vars(models)  # the globals moto's transact_write_items reads `copy` from
        module["copy"] = no_table_copies
        try:
            original(self, transact_items)
        except Exception:
            for table_name, key, item in reversed(before):
                _restore(self, table_name, key, item)
            raise
        finally:
            module["copy"] = copy

    transact_write_items.narrow = True  # type: ignore[attr-defined]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _backup(backend: Any, entry: dict[str, Any]) -> tuple[str, dict[str, Any], Any]:
    ((_, op),) = entry.items()
    table = backend.get_table(op["TableName"])
    if "Key" in op:
        key = op["Key"]
    else:
        item = op["Item"]
        key = {table.hash_key_attr: item[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = item[table.range_key_attr]
    current = backend.get_item(table.name, key)
    return table.name, key, copy.deepcopy(current)


def _restore(backend: Any, table_name: str, key: dict[str, Any], item: Any) -> None:
    if item is None:
        if backend.get_item(table_name, key) is not None:
            backend.delete_item(table_name, key)
    else:
        backend.put_item(table_name, item.to_json()["Attributes"], overwrite=True)


def make_dynamodb_faithful() -> None:
    serialize_dynamodb()
    narrow_transaction_rollback()


class EmbeddedAws:
    """The embedded AWS as a child process of the local stack."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> EmbeddedAws:
        self._process = subprocess.Popen(  # noqa: S603 (our own module)
            [
                sys.executable,
                "-m",
                "local_stack.provisioning.embedded_aws",
                "--port",
                str(self.port),
            ],
            start_new_session=True,  # Ctrl-C is the stack's to handle, then it stops us
        )
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the embedded AWS did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(2)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack.provisioning.embedded_aws")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    from moto.server import ThreadedMotoServer

    make_dynamodb_faithful()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    server.start()
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
