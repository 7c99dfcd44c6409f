"""The chat-turn fixture shared by the handler tests: the real chat_message and reply
handlers, moto for DynamoDB, Secrets Manager, SQS and @connections, the reply queue's
batches handed to the reply handler as Lambda's event source mapping hands them, and a
real OpenAI-compatible SSE server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest

from local_stack.ai_upstream.provider_server import MODEL_NAME, ProviderServer, Scenario
from realtime_chat.adapters.dynamodb_chat import DynamoChatStore
from realtime_chat.domain import Message
from tests.conftest import LambdaContext, load_event
from tests.support.aws import CHAT_TABLE, clear_posted, posted_frames, put_connection
from tests.support.faults import DynamoFault
from tests.support.reply_queue import ReplyQueue

ADA = "7d8e9f00-1111-4222-8333-944455556666"
CONN = "L0SM9cOFvHcCIhw="
PHONE = "phone="
CONV = "test_1764100800000"


@dataclass
class Chat:
    handler: ModuleType
    model: ProviderServer
    replies: ReplyQueue
    dynamodb: Any
    secret_arn: str
    context: LambdaContext
    load: Callable[[str], ModuleType]
    monkeypatch: pytest.MonkeyPatch

    def send(self, name: str = "chat_message", **changes: Any) -> None:
        """Send events/<name>.json (``data`` changed as given) and wait for the reply job."""
        self.start(name, **changes)
        self.replies.wait()

    def start(self, name: str = "chat_message", **changes: Any) -> None:
        """Send events/<name>.json (``data`` changed as given); the reply job runs on."""
        event = load_event(name)
        body = json.loads(event["body"])
        body["data"].update(changes)
        event["body"] = json.dumps(body)
        assert self.handler.lambda_handler(event, self.context) == {"statusCode": 200}
        self.replies.deliver()

    def frames(self, connection_id: str = CONN) -> list[dict[str, Any]]:
        return posted_frames(connection_id)

    def stored(self, conversation_id: str = CONV, user: str = ADA) -> list[Message]:
        store = DynamoChatStore(self.dynamodb, CHAT_TABLE)
        return list(store.history(user, conversation_id, limit=100, before=None)[0])

    def reload(self, **env: str) -> None:
        """New containers of the chat and reply functions, with these environment
        variables set."""
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        self.handler = self.load("message")
        reply = self.load("reply")
        self.replies.worker = lambda e: reply.lambda_handler(e, self.context)

    def fault(self, operation: str, code: str, *, times: int | None = 1) -> DynamoFault:
        """New containers of the chat and reply functions whose DynamoDB answers ``operation``
        with ``code`` the next ``times`` times."""
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        fault = DynamoFault(boto3.DEFAULT_SESSION.events, operation, code, times=times)
        self.reload()
        return fault

    def put_secret(self, value: dict[str, str]) -> None:
        boto3.client("secretsmanager").put_secret_value(
            SecretId=self.secret_arn, SecretString=json.dumps(value)
        )


def _connect(client: Any, connection_id: str, user: str = ADA, **extra: Any) -> None:
    put_connection(client, connection_id, user, **extra)


@pytest.fixture
def chat(
    moto_aws: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Chat]:
    clear_posted()
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="ai-provider", SecretString=json.dumps({"apiKey": "sk-local"})
    )["ARN"]
    model = ProviderServer(scenario=Scenario(api_key="sk-local")).start()
    replies = ReplyQueue(boto3.client("sqs"))
    for name, value in {
        "API_SECRETS_ARN": secret_arn,
        "AI_BASE_URL": model.url,
        "AI_MODEL": MODEL_NAME,
        "AI_READ_TIMEOUT": "1",
        "AI_RETRIES": "2",
        "REPLY_QUEUE_URL": replies.url,
        "HISTORY_MESSAGES": "4",
    }.items():
        monkeypatch.setenv(name, value)
    handler = load_handler("message")
    reply = load_handler("reply")
    replies.worker = lambda event: reply.lambda_handler(event, lambda_context)
    _connect(moto_aws, CONN)
    _connect(moto_aws, PHONE)
    yield Chat(
        handler, model, replies, moto_aws, secret_arn, lambda_context, load_handler, monkeypatch
    )
    replies.wait()
    model.stop()
    boto3.DEFAULT_SESSION = None
