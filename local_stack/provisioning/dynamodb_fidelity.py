"""Where moto's DynamoDB differs from DynamoDB in ways the local stack would feel,
made faithful. Two differences are closed:

- DynamoDB applies each request atomically; moto runs a conditional write as a
  read, a check and a write in Python, and two overlapping ``TransactWriteItems``
  can corrupt each other ("dictionary changed size during iteration"). Requests
  are serialized (the embedded AWS's server answers on one thread; in-process moto,
  as the tests use it, takes a lock).
- moto backs up every table a transaction touches with a deep copy, so one turn got
  slower as the table grew (20 ms empty, 741 ms at 4,000 items). Here a transaction
  backs up only the items it names, and restores only those if it is cancelled.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

__all__ = [
    "make_dynamodb_faithful",
    "narrow_transaction_rollback",
    "serialize_dynamodb",
]

_ONE_AT_A_TIME = threading.RLock()


def serialize_dynamodb() -> None:
    """Make every DynamoDB request to moto (in-process or server) run one at a time."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "serialized", False):
        return

    def call_action(self: Any) -> Any:
        with _ONE_AT_A_TIME:
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
