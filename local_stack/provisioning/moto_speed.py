"""What made moto's server slow per request, taken away without changing what it
answers. A chat turn makes about ten DynamoDB requests; at 6-20 ms of moto's CPU
each they, not the functions, set the pace of the local stack under load.

Measured on a 2-vCPU VM (moto 5.2.5, server CPU per request, before -> after,
together with keep-alive connections, see ``embedded_aws``): GetItem 5.7 -> 1.8 ms,
a conditional UpdateItem 6.7 -> 4.3 ms, a 20-item Query 21 -> 4.6 ms, a 3-item
TransactWriteItems 5.5 -> 2.9 ms. What cost it:

- routing: moto lists its own package directory (``os.listdir`` plus an ``isdir``
  per service, about 150) on every request to find the service, twice;
- dispatch: the handler's method names are collected with ``inspect.getmembers``
  on every request;
- DynamoDB's items: each response is walked against botocore's output shape,
  member by member, to produce JSON that is the items' own JSON. For the item
  operations it is written directly; ``tests/unit/test_moto_speed.py`` proves the
  answers equal those of moto's own serializer.
- update expressions: each is tokenized and parsed twice per update (to check its
  names and values, then to apply it), though a function sends the same few
  expressions again and again. Each is parsed once; moto only reads the parsed tree,
  and copies it before resolving names and values into it. Of the ten passes moto's
  validator makes over the tree, the three that look at the expression alone (its
  action counts, overlapping paths, no key attribute updated) are made once per
  expression, names and table. The copy moto takes of the tree for each update is
  unpickled from the tree pickled once (a six-action tree: ``deepcopy`` 0.7 ms,
  unpickling 0.13 ms), and each pass over the tree no longer rebuilds, at every
  node, the tuple of node types it processes. Together a turn's two transactions
  went from 6.5 and 7.3 ms of moto's CPU to 4.1 and 4.5.
- queries: each one sorted every item of the table by its key and then compared
  each item's partition key with the one asked for, so a query cost grew with the
  whole table (a 20-message history page: 1.7 ms at 300 items, 22 ms at 3,000).
  A table query reads its partition; an index query reads the items unsorted (moto
  sorts what matches by the index's and the table's keys anyway, a total order).
  The same page now costs 0.4 and 1.4 ms; a test holds the answers to moto's own.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import pickle
from typing import Any, cast

__all__ = ["make_moto_fast"]

# The operations whose results are items (DynamoResult): plain dicts of attribute
# values, counts and capacity. Table and backup descriptions keep moto's serializer.
ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


def make_moto_fast() -> None:
    _route_without_listing_the_package()
    _remember_handler_method_names()
    _write_item_responses_directly()
    _parse_update_expressions_once()
    _check_each_update_expression_once()
    _remember_the_node_types_each_pass_processes()
    _query_the_partition_not_the_table()


def _parse_update_expressions_once() -> None:
    expressions: Any = importlib.import_module(
        "moto.dynamodb.parsing.expressions"
    ).UpdateExpressionParser
    if getattr(expressions.make, "once", False):
        return
    original = expressions.make.__func__
    parsed: dict[str, Any] = {}
    pickled: dict[int, bytes] = {}  # by id of a tree that ``parsed`` keeps alive

    def make(cls: Any, expression: str) -> Any:
        tree = parsed.get(expression)
        if tree is None:
            tree = original(cls, expression)  # a syntax error raises, and is not kept
            if len(parsed) < 1000:  # a function's expressions are few; a client's are not
                parsed[expression] = tree
                pickled[id(tree)] = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
        return tree

    def copy_of(value: Any, memo: Any = None) -> Any:
        """``copy.deepcopy`` as the validators call it; a kept tree from its pickle."""
        blob = pickled.get(id(value))
        return pickle.loads(blob) if blob is not None else copy.deepcopy(value, memo)  # noqa: S301 (our own)

    make.once = True  # type: ignore[attr-defined]
    expressions.make = classmethod(make)
    validators: Any = importlib.import_module("moto.dynamodb.parsing.validators")
    validators.deepcopy = copy_of  # the name it imported from ``copy``


def _remember_the_node_types_each_pass_processes() -> None:
    traverser: Any = importlib.import_module("moto.dynamodb.parsing.ast_nodes").DepthFirstTraverser
    if getattr(traverser.nodes_to_be_processed, "remembered", False):
        return
    original = traverser.nodes_to_be_processed
    kinds: dict[type, tuple[type, ...]] = {}  # a pass's map is keyed by its class's types

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        known = kinds.get(type(self))
        if known is None:
            known = kinds[type(self)] = original(self)
        return known

    nodes_to_be_processed.remembered = True  # type: ignore[attr-defined]
    traverser.nodes_to_be_processed = nodes_to_be_processed


def _route_without_listing_the_package() -> None:
    from moto import backends as module

    backends: Any = module
    if getattr(backends.list_of_moto_modules, "cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())  # the package does not change

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules.cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules


def _remember_handler_method_names() -> None:
    from moto.core import responses as module

    responses: Any = module
    if hasattr(responses.method_names_from_class, "cache_info"):
        return
    # Keyed by the handler class, whose methods are fixed once it is defined.
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)


def _write_item_responses_directly() -> None:
    from moto.dynamodb.models.utilities import DynamoJsonEncoder
    from moto.dynamodb.responses import DynamoHandler as handler_class
    from moto.dynamodb.responses import DynamoResult

    DynamoHandler: Any = handler_class
    original = DynamoHandler.serialized
    if getattr(original, "direct", False):
        return

    def serialized(self: Any, action_result: Any) -> Any:
        if not isinstance(action_result, DynamoResult) or self._get_action() not in ITEM_OPERATIONS:
            return original(self, action_result)
        # As the serializer does: members without a value are left out; bytes are
        # base64, as DynamoDB's JSON protocol writes blobs.
        items = cast(dict[str, Any], action_result.result)  # a DynamoResult is a dict
        result = {k: v for k, v in items.items() if v is not None}
        body = json.dumps(result, cls=DynamoJsonEncoder, separators=(",", ":"))
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        return 200, headers, body

    serialized.direct = True  # type: ignore[attr-defined]
    serialized.original = original  # type: ignore[attr-defined]
    DynamoHandler.serialized = serialized


def _check_each_update_expression_once() -> None:
    validators: Any = importlib.import_module("moto.dynamodb.parsing.validators")
    validator = validators.UpdateExpressionValidator
    if getattr(validator.validate, "once", False):
        return
    expression_only = (
        validators.ActionCountValidator,
        validators.OverlappingPathsValidator,
        validators.UpdateHashRangeKeyValidator,
    )
    original_init, original_validate = validator.__init__, validator.validate
    passed: dict[tuple[Any, ...], Any] = {}  # holds each tree, so its id stays its own

    def __init__(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, expression, *args, **kwargs)
        names = tuple(sorted((self.expression_attribute_names or {}).items()))
        self._checked_as = (id(expression), names, tuple(self.table.table_key_attrs))
        self._tree = expression
        if self._checked_as in passed:
            self.processors = [p for p in self.processors if not isinstance(p, expression_only)]

    def validate(self: Any) -> Any:
        node = original_validate(self)  # raises for an invalid expression: not kept
        if len(passed) < 1000:
            passed[self._checked_as] = self._tree
        return node

    validate.once = True  # type: ignore[attr-defined]
    validator.__init__ = __init__
    validator.validate = validate


def _query_the_partition_not_the_table() -> None:
    table: Any = importlib.import_module("moto.dynamodb.models.table").Table
    original = table.query
    if getattr(original, "by_partition", False):
        return

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        hash_key = args[0] if args else kwargs.get("hash_key")
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        if hash_key is None:
            return original(self, *args, **kwargs)
        if index_name is None:  # the partition's items, found by its key
            found = self.items.get(hash_key)
            if found is None:
                items = []
            else:
                items = list(found.values()) if self.range_key_attr else [found]
        else:  # every item, as moto reads them, but without sorting them first
            items = [
                i for p in self.items.values() for i in (p.values() if self.range_key_attr else [p])
            ]
        # moto's query reads ``all_items()`` once; for this call, it gets these (the
        # embedded AWS serializes its DynamoDB requests, see dynamodb_fidelity).
        self.all_items = lambda: items
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    query.by_partition = True  # type: ignore[attr-defined]
    query.original = original  # type: ignore[attr-defined]
    table.query = query
