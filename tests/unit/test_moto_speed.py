"""The embedded AWS's speed-ups change nothing an SDK sees: every item operation
answers exactly as moto's own serializer would, for every attribute type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from local_stack.provisioning import moto_speed
from tests.support.aws import CHAT_TABLE, CONNECTIONS_TABLE, create_tables, put_connection

EVERY_TYPE = {
    "pk": {"S": "USER#1#CONV#c"},
    "sk": {"S": "MSG#0001"},
    "text": {"S": 'héllo \u2603 "quoted"'},
    "count": {"N": "-12.50"},
    "blob": {"B": b"\x00\x01binary\xff"},
    "blobs": {"BS": [b"a", b"\x00b"]},
    "words": {"SS": ["x", "y"]},
    "numbers": {"NS": ["1", "2.5"]},
    "nested": {"M": {"list": {"L": [{"S": "a"}, {"N": "1"}, {"NULL": True}, {"BOOL": False}]}}},
}


def _key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "USER#1#CONV#c"}, "sk": {"S": sk}}


def _conversation(client: Any) -> list[Any]:
    """Every item operation the handlers use, and their options; the answers."""
    answers: list[Any] = []
    say = answers.append
    say(client.put_item(TableName=CHAT_TABLE, Item=EVERY_TYPE, ReturnConsumedCapacity="TOTAL"))
    for n in range(5):
        say(client.put_item(TableName=CHAT_TABLE, Item={**_key(f"MSG#1{n}"), "n": {"N": str(n)}}))
    say(client.put_item(TableName=CHAT_TABLE, Item=EVERY_TYPE, ReturnValues="ALL_OLD"))
    say(client.get_item(TableName=CHAT_TABLE, Key=_key("MSG#0001")))
    say(client.get_item(TableName=CHAT_TABLE, Key=_key("absent")))
    say(
        client.get_item(
            TableName=CHAT_TABLE,
            Key=_key("MSG#0001"),
            ProjectionExpression="#t, nested.#l",
            ExpressionAttributeNames={"#t": "text", "#l": "list"},
        )
    )
    for returned in ("ALL_NEW", "UPDATED_OLD", "NONE"):
        say(
            client.update_item(
                TableName=CHAT_TABLE,
                Key=_key("MSG#0001"),
                UpdateExpression="SET #c = #c + :one, title = if_not_exists(title, :t)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":t": {"S": "T"}},
                ReturnValues=returned,
                ReturnConsumedCapacity="INDEXES",
            )
        )
    say(
        client.query(
            TableName=CHAT_TABLE,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
            ExpressionAttributeValues={":pk": {"S": "USER#1#CONV#c"}, ":m": {"S": "MSG#"}},
            Limit=3,
            ScanIndexForward=False,
            ReturnConsumedCapacity="TOTAL",
        )
    )
    say(
        client.query(
            TableName=CHAT_TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "USER#1#CONV#c"}},
            Select="COUNT",
        )
    )
    say(client.scan(TableName=CHAT_TABLE, Limit=2))
    say(
        client.batch_get_item(
            RequestItems={CHAT_TABLE: {"Keys": [_key("MSG#0001"), _key("MSG#10"), _key("none")]}}
        )
    )
    say(
        client.batch_write_item(
            RequestItems={
                CHAT_TABLE: [
                    {"DeleteRequest": {"Key": _key("MSG#11")}},
                    {"PutRequest": {"Item": {**_key("MSG#20"), "v": {"S": "w"}}}},
                ]
            }
        )
    )
    say(
        client.transact_get_items(
            TransactItems=[{"Get": {"TableName": CHAT_TABLE, "Key": _key("MSG#0001")}}]
        )
    )
    say(
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": CHAT_TABLE, "Item": {**_key("MSG#30"), "v": {"S": "t"}}}},
                {"Delete": {"TableName": CHAT_TABLE, "Key": _key("MSG#12")}},
            ],
            ReturnConsumedCapacity="TOTAL",
        )
    )
    say(client.delete_item(TableName=CHAT_TABLE, Key=_key("MSG#0001"), ReturnValues="ALL_OLD"))
    say(client.delete_item(TableName=CHAT_TABLE, Key=_key("absent"), ReturnValues="ALL_OLD"))
    return [{k: v for k, v in answer.items() if k != "ResponseMetadata"} for answer in answers]


def _answers(serialized: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as patch, mock_aws():
        patch.setattr(DynamoHandler, "serialized", serialized)
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client)
        return _conversation(client)


def test_item_operations_answer_as_motos_own_serializer_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN moto made fast, and moto's own serializer kept aside
    moto_speed.make_moto_fast()
    direct = DynamoHandler.serialized
    original = direct.original  # type: ignore[attr-defined]
    # WHEN the same conversation of item operations runs against each
    expected = _answers(original, monkeypatch)
    actual = _answers(direct, monkeypatch)
    # THEN an SDK reads the same answers, item for item (and the answers are not empty)
    assert actual == expected
    assert expected[7]["Item"]["blob"] == {"B": b"\x00\x01binary\xff"}
    assert "LastEvaluatedKey" in expected[13]


def test_a_failed_item_operation_still_answers_with_dynamodbs_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moto_speed.make_moto_fast()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client)
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.update_item(
                TableName=CHAT_TABLE,
                Key=_key("absent"),
                UpdateExpression="SET v = :v",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":v": {"S": "x"}},
            )


def test_an_update_expression_sent_again_applies_its_new_values(
    moto_aws: Any,
) -> None:
    # GIVEN moto made fast (each update expression parsed once)
    moto_speed.make_moto_fast()
    # WHEN the same expression is sent with one value, then another, then with names
    for value in ("first", "second"):
        moto_aws.update_item(
            TableName=CHAT_TABLE,
            Key=_key("MSG#1"),
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"S": value}},
        )
    moto_aws.update_item(
        TableName=CHAT_TABLE,
        Key=_key("MSG#2"),
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "third"}},
    )
    # THEN each update wrote its own value
    got = [
        moto_aws.get_item(TableName=CHAT_TABLE, Key=_key(sk))["Item"]["v"]["S"]
        for sk in ("MSG#1", "MSG#2")
    ]
    assert got == ["second", "third"]


def test_an_update_expression_that_breaks_a_rule_is_refused_every_time(moto_aws: Any) -> None:
    # GIVEN moto made fast (expression-only checks made once per expression that passed)
    moto_speed.make_moto_fast()
    moto_aws.put_item(TableName=CHAT_TABLE, Item={**_key("MSG#1"), "v": {"S": "a"}})
    for _ in range(2):
        # WHEN an update that changes a key attribute, or sets one path twice, is sent
        # THEN it is refused, the second time as the first
        with pytest.raises(moto_aws.exceptions.ClientError, match="key"):
            moto_aws.update_item(
                TableName=CHAT_TABLE,
                Key=_key("MSG#1"),
                UpdateExpression="SET sk = :v",
                ExpressionAttributeValues={":v": {"S": "other"}},
            )
        with pytest.raises(moto_aws.exceptions.ClientError, match="overlap"):
            moto_aws.update_item(
                TableName=CHAT_TABLE,
                Key=_key("MSG#1"),
                UpdateExpression="SET v = :a, v = :b",
                ExpressionAttributeValues={":a": {"S": "x"}, ":b": {"S": "y"}},
            )
    # AND a valid one sent after them still applies
    moto_aws.update_item(
        TableName=CHAT_TABLE,
        Key=_key("MSG#1"),
        UpdateExpression="SET v = :a",
        ExpressionAttributeValues={":a": {"S": "z"}},
    )
    assert moto_aws.get_item(TableName=CHAT_TABLE, Key=_key("MSG#1"))["Item"]["v"]["S"] == "z"


def _pages(client: Any, **query: Any) -> list[Any]:
    """Every page of a query, following LastEvaluatedKey."""
    pages = []
    while True:
        page = client.query(**query)
        pages.append({k: v for k, v in page.items() if k != "ResponseMetadata"})
        if "LastEvaluatedKey" not in page:
            return pages
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _queries(query: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as patch, mock_aws():
        patch.setattr(Table, "query", query)
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


def test_queries_answer_as_motos_own_query_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN moto made fast (a query reads its partition, not the whole sorted table),
    # and moto's own query kept aside
    moto_speed.make_moto_fast()
    ours = Table.query
    theirs = ours.original  # type: ignore[attr-defined]
    # WHEN the same queries (pages, both directions, both indexes) run against each
    expected = _queries(theirs, monkeypatch)
    actual = _queries(ours, monkeypatch)
    # THEN they answer alike, page for page (and the answers are not empty)
    assert actual == expected
    assert sum(page["Count"] for page in expected) == 4 + 4 + 0 + 12 + 3
