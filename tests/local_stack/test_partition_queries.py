"""The embedded DynamoDB's one patch of moto: table queries read their partition, and
answer exactly as moto's own query does; on another moto version it stays off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from local_stack.provisioning import partition_queries
from tests.support.aws import CHAT_TABLE, CONNECTIONS_TABLE, create_tables, put_connection


@pytest.fixture
def partitions_only() -> Iterator[None]:
    """The patch, on for one test and undone after it."""
    undo = partition_queries.query_partitions_only()
    yield
    undo()


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
    indexes) against a table of three conversations and a few connections."""
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
        return answers


def test_queries_answer_as_motos_own_query_does() -> None:
    # GIVEN the answers of unpatched moto
    expected = _answers()
    # WHEN the same queries run with the patch on
    undo = partition_queries.query_partitions_only()
    try:
        actual = _answers()
    finally:
        undo()
    # THEN they answer alike, page for page (and the answers are not empty)
    assert actual == expected
    assert sum(page["Count"] for page in expected) == 4 + 4 + 0 + 12 + 3


def test_the_patch_is_undone_completely(partitions_only: None) -> None:
    # GIVEN the patch on (through the fixture), WHEN it is undone, THEN moto's own
    # query is back
    patched = Table.query
    partition_queries.query_partitions_only()()  # a second patch, undone at once
    assert Table.query is patched


def test_on_another_moto_version_it_warns_and_leaves_moto_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a moto other than the one the patch was written for
    monkeypatch.setattr(partition_queries, "version", lambda _name: "9.9.9")
    own = Table.query
    # WHEN the patch is asked for, THEN it says so and moto keeps its own query
    with pytest.warns(UserWarning, match="moto 9.9.9 is not 5.2.5"):
        undo = partition_queries.query_partitions_only()
    assert Table.query is own
    undo()
    assert Table.query is own
