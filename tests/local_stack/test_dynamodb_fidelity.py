"""moto made faithful to DynamoDB (dynamodb_fidelity): atomic requests, transactions
that roll back only what they touched, queries that read their partition; answers
equal to moto's own; on another moto version, moto left alone. The ``moto_aws``
fixture (tests/conftest.py) applies the patches for one test and undoes them after."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from local_stack.provisioning import dynamodb_fidelity
from tests.support.aws import CHAT_TABLE, CONNECTIONS_TABLE, create_tables, put_connection


def _scan(client: Any) -> list[dict[str, Any]]:
    return sorted(
        client.scan(TableName=CHAT_TABLE)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"])
    )


def _item(pk: str, sk: str, **more: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **more}


def _pages(client: Any, **query: Any) -> list[Any]:
    """Every page of a query, following LastEvaluatedKey."""
    pages = []
    while True:
        page = client.query(**query)
        pages.append({k: v for k, v in page.items() if k != "ResponseMetadata"})
        if "LastEvaluatedKey" not in page:
            return pages
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _answers() -> list[Any]:
    """The chat's kinds of query (pages, both directions, a missing partition, both
    indexes) against a table of three conversations and a few connections, and a
    transaction that succeeds and one that is cancelled, with the table after each."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client)
        for conversation in ("a", "b", "c"):
            for n in (3, 1, 2, 10):
                client.put_item(
                    TableName=CHAT_TABLE,
                    Item={
                        "pk": {"S": f"USER#1#CONV#{conversation}"},
                        "sk": {"S": f"MSG#{n:04d}"},
                        "gsi1pk": {"S": "USER#1"},
                        "gsi1sk": {"S": f"2026-11-26T10:00:0{n % 3}Z"},
                    },
                )
            client.put_item(
                TableName=CHAT_TABLE,
                Item={"pk": {"S": f"USER#1#CONV#{conversation}"}, "sk": {"S": "META"}},
            )
        for n, user in enumerate(["ada", "bob", "ada", "ada"]):
            put_connection(client, f"conn{n}=", user)
        answers = []
        for forward in (True, False):
            answers += _pages(
                client,
                TableName=CHAT_TABLE,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
                ExpressionAttributeValues={":pk": {"S": "USER#1#CONV#b"}, ":m": {"S": "MSG#"}},
                Limit=2,
                ScanIndexForward=forward,
            )
        answers += _pages(
            client,
            TableName=CHAT_TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "USER#9#CONV#none"}},
        )
        answers += _pages(
            client,
            TableName=CHAT_TABLE,
            IndexName="byUpdated",
            KeyConditionExpression="gsi1pk = :u",
            ExpressionAttributeValues={":u": {"S": "USER#1"}},
            Limit=5,
            ScanIndexForward=False,
        )
        answers += _pages(
            client,
            TableName=CONNECTIONS_TABLE,
            IndexName="userId-index",
            KeyConditionExpression="userId = :u",
            ExpressionAttributeValues={":u": {"S": "ada"}},
            Limit=1,
        )
        for condition in ("attribute_exists(pk)", "attribute_not_exists(pk)"):
            try:
                client.transact_write_items(TransactItems=_transaction(condition))
                answers.append("committed")
            except client.exceptions.TransactionCanceledException as cancelled:
                answers.append(cancelled.response["CancellationReasons"])
            answers.append(_scan(client))
        return answers


def _transaction(condition: str) -> list[dict[str, Any]]:
    """A put, an update and a delete, committed only if ``condition`` holds of META."""
    return [
        {"Put": {"TableName": CHAT_TABLE, "Item": _item("USER#1#CONV#a", "MSG#0099")}},
        {
            "Update": {
                "TableName": CHAT_TABLE,
                "Key": _item("USER#1#CONV#b", "MSG#0001"),
                "UpdateExpression": "SET v = :x",
                "ExpressionAttributeValues": {":x": {"N": "-1"}},
            }
        },
        {"Delete": {"TableName": CHAT_TABLE, "Key": _item("USER#1#CONV#c", "MSG#0002")}},
        {
            "ConditionCheck": {
                "TableName": CHAT_TABLE,
                "Key": _item("USER#1#CONV#c", "META"),
                "ConditionExpression": condition,
            }
        },
    ]


def test_queries_and_transactions_answer_as_motos_own_do() -> None:
    # GIVEN the answers of unpatched moto
    expected = _answers()
    # WHEN the same requests run with the patches on
    undo = dynamodb_fidelity.make_dynamodb_faithful()
    try:
        actual = _answers()
    finally:
        undo()
    # THEN they answer alike, page for page and item for item (and not emptily)
    assert actual == expected
    pages = [a for a in expected if isinstance(a, dict)]
    assert sum(page["Count"] for page in pages) == 4 + 4 + 0 + 12 + 3
    assert "committed" in expected


def test_a_cancelled_transaction_leaves_every_item_as_it_was(moto_aws: Any) -> None:
    # GIVEN a table of 200 items, two of which a transaction will change
    for n in range(200):
        moto_aws.put_item(TableName=CHAT_TABLE, Item=_item("p", f"s{n:03d}", v={"N": str(n)}))
    before = _scan(moto_aws)
    # WHEN a transaction puts a new item, updates one, deletes one, then fails a condition
    with pytest.raises(moto_aws.exceptions.TransactionCanceledException):
        moto_aws.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": CHAT_TABLE, "Item": _item("p", "new")}},
                {
                    "Update": {
                        "TableName": CHAT_TABLE,
                        "Key": _item("p", "s001"),
                        "UpdateExpression": "SET v = :x",
                        "ExpressionAttributeValues": {":x": {"N": "-1"}},
                    }
                },
                {"Delete": {"TableName": CHAT_TABLE, "Key": _item("p", "s002")}},
                {
                    "ConditionCheck": {
                        "TableName": CHAT_TABLE,
                        "Key": _item("p", "s003"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    # THEN the table is exactly as before
    assert _scan(moto_aws) == before


def test_overlapping_transactions_neither_corrupt_nor_fail_spuriously(moto_aws: Any) -> None:
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for k in range(20):
                moto_aws.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": CHAT_TABLE, "Item": _item(f"t{n}", f"a{k}")}},
                        {"Put": {"TableName": CHAT_TABLE, "Item": _item(f"t{n}", f"b{k}")}},
                    ]
                )
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert failures == []
    assert len(_scan(moto_aws)) == 8 * 20 * 2


def test_the_patches_are_undone_completely() -> None:
    # GIVEN moto's own methods WHEN the patches are applied and undone THEN they are back
    own = (Table.query, DynamoHandler.call_action, DynamoDBBackend.transact_write_items)
    dynamodb_fidelity.make_dynamodb_faithful()()
    assert (Table.query, DynamoHandler.call_action, DynamoDBBackend.transact_write_items) == own


def test_on_another_moto_version_it_warns_and_leaves_moto_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a moto other than the one the patches were written for
    monkeypatch.setattr(dynamodb_fidelity, "version", lambda _name: "9.9.9")
    own = Table.query
    # WHEN the patches are asked for, THEN it says so and moto keeps its own code
    with pytest.warns(UserWarning, match="moto 9.9.9 is not 5.2.5"):
        undo = dynamodb_fidelity.make_dynamodb_faithful()
    assert Table.query is own
    undo()
    assert Table.query is own
