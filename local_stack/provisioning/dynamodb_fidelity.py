"""Where moto's DynamoDB differs from DynamoDB in ways the local stack would feel,
made faithful: the only patches of moto's private code in the project, all in this
module, applied only to the moto version they were written against.

- DynamoDB applies each request atomically; moto runs a conditional write as a read,
  a check and a write in Python, and two overlapping ``TransactWriteItems`` can
  corrupt each other ("dictionary changed size during iteration"). Requests are
  serialized (the embedded AWS's server answers on one thread anyway; in-process
  moto, as the tests use it, takes a lock).
- moto backs up every table a transaction touches with a deep copy, so a turn got
  slower as the table grew (with 10,000 stored messages, a turn's acknowledgement
  18x and its first chunk 10x as slow as on an empty table). Here a transaction backs
  up only the items it names, and restores only those if it is cancelled.
- moto's table query sorts the whole table and then picks the partition asked for
  (with 10,000 stored messages a reply's first chunk 1.8x as slow). Here a table
  query hands moto's own query (which still filters, sorts and pages) the
  partition's items only.

On any other moto version nothing is patched and a warning says so: moto's answers
stay its own, only slower as tables fill, and in-process requests may interleave.
``tests/local_stack/test_dynamodb_fidelity.py`` holds the patched answers equal to
moto's own, applying and undoing the patches around each test.
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

__all__ = ["MOTO_VERSION", "make_dynamodb_faithful"]

MOTO_VERSION = "5.2.5"  # the moto whose internals the patches below were written against

Undo = Callable[[], None]


def make_dynamodb_faithful() -> Undo:
    """Patch moto's DynamoDB as the module docstring says; returns what undoes it. On
    another moto version: a warning, no patch, and an undo that does nothing."""
    installed = version("moto")
    if installed != MOTO_VERSION:
        warnings.warn(
            f"moto {installed} is not {MOTO_VERSION}: the embedded DynamoDB runs unpatched "
            "(slower as tables fill; in-process requests may interleave). Check "
            "local_stack/provisioning/dynamodb_fidelity.py against this moto.",
            stacklevel=2,
        )
        return lambda: None
    undos = [_serialize_requests(), _narrow_transaction_rollback(), _query_the_partition()]

    def undo() -> None:
        for each in reversed(undos):
            each()

    return undo


def _replace(owner: Any, name: str, new: Any) -> Undo:
    original = vars(owner)[name]
    setattr(owner, name, new)
    return lambda: setattr(owner, name, original)


_ONE_AT_A_TIME = threading.RLock()


def _serialize_requests() -> Undo:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _ONE_AT_A_TIME:
            return original(self)

    return _replace(DynamoHandler, "call_action", call_action)


class _CopiesAllButTables:
    """Stands in for the ``copy`` module inside moto's ``transact_write_items``: its
    whole-table backups become no-ops; everything else is copied as before."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self._table_type) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _narrow_transaction_rollback() -> Undo:
    """Back up and restore only the items a transaction names (requests are
    serialized: the swap of moto's ``copy`` below is not thread-safe)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items
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

    return _replace(models.DynamoDBBackend, "transact_write_items", transact_write_items)


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


def _query_the_partition() -> Undo:
    from moto.dynamodb.models.table import Table

    original = Table.query

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        hash_key = args[0] if args else kwargs.get("hash_key")
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        if hash_key is None or index_name is not None:
            return original(self, *args, **kwargs)
        if hash_key not in self.items:
            items = []
        elif self.range_key_attr:
            items = list(self.items[hash_key].values())
        else:
            items = [self.items[hash_key]]
        # moto's query reads ``all_items()`` for its candidates; for this call, they are
        # the partition's (requests run one at a time, see _serialize_requests).
        self.all_items = lambda: items
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    return _replace(Table, "query", query)
