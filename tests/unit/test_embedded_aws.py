"""The embedded AWS's DynamoDB: atomic requests, transactions that roll back only what
they touched, and a server process that starts and stops promptly."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest

from local_stack.provisioning.dynamodb_fidelity import TurnTaking
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


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_the_embedded_aws_serves_from_its_own_process_and_stops_promptly() -> None:
    aws = EmbeddedAws(free_port()).start()
    try:
        # GIVEN a table created through the interactive lane
        client, background = _client(aws.url), _client(aws.background_url)
        create_tables(client)
        # WHEN one lane writes and the other reads
        client.put_item(TableName=CHAT_TABLE, Item=_item("p", "s"))
        # THEN both see the same data, and DynamoDB's errors arrive as DynamoDB's
        assert _scan(background) == _scan(client) == [_item("p", "s")]
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            background.put_item(
                TableName=CHAT_TABLE,
                Item=_item("p", "s"),
                ConditionExpression="attribute_not_exists(pk)",
            )
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.get_item(TableName="absent", Key=_item("p", "s"))
    finally:
        started = time.monotonic()
        aws.stop()
        assert time.monotonic() - started < 3


def test_background_requests_let_waiting_interactive_ones_go_first() -> None:
    # GIVEN a request holding DynamoDB's turn
    turns = TurnTaking()
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turns.turn(background=True):
            holding.set()
            release.wait(5)

    def request(name: str, *, background: bool) -> None:
        with turns.turn(background=background):
            order.append(name)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    # WHEN a background request queues, then an interactive one
    waiting = [threading.Thread(target=request, args=("background",), kwargs={"background": True})]
    waiting[0].start()
    time.sleep(0.1)
    waiting.append(
        threading.Thread(target=request, args=("interactive",), kwargs={"background": False})
    )
    waiting[1].start()
    time.sleep(0.1)
    release.set()
    for thread in [holder, *waiting]:
        thread.join(5)
    # THEN the interactive one goes first, and the background one still gets its turn
    assert order == ["interactive", "background"]


def test_a_turn_is_reentrant_for_the_thread_holding_it() -> None:
    turns = TurnTaking()
    with turns.turn(background=False), turns.turn(background=True):
        pass
    with turns.turn(background=True):  # and free again afterwards
        pass
