"""The one patch of moto the local stack keeps, for one moto version only: a table
query reads its partition instead of sorting the whole table.

moto's ``Table.query`` sorts every item of the table and then compares each one's
partition key with the one asked for, so a history read grows with everything
stored: with 10,000 messages the first chunk of a reply came 1.8x later than on an
empty table, where DynamoDB's cost follows the partition. The patch hands moto's own
query the partition's items instead of the table's (moto still filters, sorts and
pages them itself). It touches moto's private ``Table.query``/``all_items``, so it is
applied only to the exact version it was checked against; any other version runs
unpatched, with a warning. ``tests/local_stack/test_partition_queries.py`` holds its
answers equal to moto's own.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

__all__ = ["MOTO_VERSION", "query_partitions_only"]

MOTO_VERSION = "5.2.5"  # the moto whose Table.query this was written against


def query_partitions_only() -> Callable[[], None]:
    """Patch moto's table queries; returns what undoes it. On another moto version:
    a warning, no patch, and an undo that does nothing."""
    installed = version("moto")
    if installed != MOTO_VERSION:
        warnings.warn(
            f"moto {installed} is not {MOTO_VERSION}: the embedded DynamoDB's queries read "
            "the whole table (slower as it fills up, answers unchanged). Check "
            "local_stack/provisioning/partition_queries.py against this moto.",
            stacklevel=2,
        )
        return lambda: None
    from moto.dynamodb.models.table import Table

    table: Any = Table
    original = table.query

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
        # moto's query reads ``all_items()`` for the candidates; for this call, they are
        # the partition's (DynamoDB requests run one at a time, see dynamodb_fidelity).
        self.all_items = lambda: items
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    table.query = query

    def undo() -> None:
        table.query = original

    return undo
