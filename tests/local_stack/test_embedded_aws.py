"""The embedded AWS: a server process that starts and stops with the stack, answering
on one thread."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp import web

from local_stack.provisioning import one_thread_wsgi
from local_stack.provisioning.embedded_aws import EmbeddedAws
from tests.e2e.conftest import free_port
from tests.support.aws import CHAT_TABLE, create_tables
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def _scan(client: Any) -> list[dict[str, Any]]:
    return sorted(
        client.scan(TableName=CHAT_TABLE)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"])
    )


def _item(pk: str, sk: str, **more: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **more}


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_the_embedded_aws_serves_from_its_own_process_until_stopped() -> None:
    aws = EmbeddedAws(free_port()).start()
    try:
        # GIVEN a table created in the embedded AWS
        client = _client(aws.url)
        create_tables(client)
        # WHEN one client writes and another reads
        client.put_item(TableName=CHAT_TABLE, Item=_item("p", "s"))
        # THEN both see the same data, and DynamoDB's errors arrive as DynamoDB's
        assert _scan(_client(aws.url)) == [_item("p", "s")]
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(
                TableName=CHAT_TABLE,
                Item=_item("p", "s"),
                ConditionExpression="attribute_not_exists(pk)",
            )
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.get_item(TableName="absent", Key=_item("p", "s"))
    finally:
        aws.stop()
    # AND once stopped, its port is free again
    assert _free(aws.port)


async def _serving(app: Any, port: int) -> asyncio.Server:
    server = web.Server(one_thread_wsgi.handler(app))
    return await asyncio.get_running_loop().create_server(server, "127.0.0.1", port)


async def _answers(*requests: tuple[int, str]) -> list[bytes]:
    """POST each (port, path) on a connection of its own, all before any is answered;
    then each answer's status line and headers."""
    connections = [await asyncio.open_connection("127.0.0.1", port) for port, _ in requests]
    for (_, writer), (_, path) in zip(connections, requests, strict=True):
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    try:
        return [await reader.readuntil(b"\r\n\r\n") for reader, _ in connections]
    finally:
        for _, writer in connections:
            writer.close()


def test_a_request_the_application_fails_gets_a_500_and_the_next_is_served() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("moto failed")  # logged by the server, with its traceback
        start_response("200 OK", [("Content-Length", "2")])
        return [b"{}"]

    async def scenario() -> list[bytes]:
        # GIVEN the server, whose application fails one request
        port = free_port()
        listening = await _serving(app, port)
        try:
            # WHEN that request comes, then another
            failed = await _answers((port, "/boom"))
            return [*failed, *await _answers((port, "/fine"))]
        finally:
            listening.close()

    failed, served = asyncio.run(scenario())
    # THEN the first gets a 500 and the server goes on
    assert failed.startswith(b"HTTP/1.1 500")
    assert served.startswith(b"HTTP/1.1 200")


def test_the_embedded_aws_stops_when_the_process_that_started_it_is_gone(
    tmp_path: Path,
) -> None:
    # GIVEN a process that starts the embedded AWS and is then killed with SIGKILL,
    # leaving it no chance to stop its child
    port = free_port()
    starter = subprocess.Popen(  # noqa: S603 (our own module)
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from local_stack.provisioning.embedded_aws import EmbeddedAws\n"
            f"EmbeddedAws({port}).start()\n"
            "print('started', flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert starter.stdout is not None and starter.stdout.readline() == b"started\n"
        # WHEN it dies
        starter.kill()
        starter.wait()
    finally:
        if starter.stdout is not None:
            starter.stdout.close()
    # THEN the embedded AWS stops too, and its port is free again
    eventually(lambda: _free(port), what="the embedded AWS's port freed")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
