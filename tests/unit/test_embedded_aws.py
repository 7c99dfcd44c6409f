"""The embedded AWS's DynamoDB: atomic requests, transactions that roll back only what
they touched, and a server process that starts and stops promptly."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest

from local_stack.provisioning.embedded_aws import EmbeddedAws
from tests.e2e.conftest import free_port
from tests.support.aws import CHAT_TABLE, create_tables


def _scan(client: Any) -> list[dict[str, Any]]:
    return sorted(
        client.scan(TableName=CHAT_TABLE)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"])
    )


def _item(pk: str, sk: str, **more: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **more}


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


def test_the_embedded_aws_serves_from_its_own_process_and_stops_promptly() -> None:
    aws = EmbeddedAws(free_port()).start()
    try:
        client = boto3.client(
            "dynamodb",
            endpoint_url=aws.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        create_tables(client)
        client.put_item(TableName=CHAT_TABLE, Item=_item("p", "s"))
        assert len(_scan(client)) == 1
    finally:
        started = time.monotonic()
        aws.stop()
        assert time.monotonic() - started < 3
