"""``make smoke``: is a stack up and whole? Connects anonymously (ping, debug_status,
the sign-in refusal), then as a user (a streamed chat turn, its history, the
conversation list), then deletes its conversation and disconnects. Runs against the
local stack (the default) or a deployed one (``--stack`` reads its Outputs), and
``make test`` runs it against the local stack, so one check covers both.

A deployed stack needs a user: create one once (``deploy/README.md``) and pass it as
SMOKE_USERNAME and SMOKE_PASSWORD (or --username/--password).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from local_stack.provisioning.provision import sign_in
from local_stack.state import StackNotRunning, read_state

__all__ = ["SmokeFailed", "Target", "main", "run_smoke", "target_from_outputs"]

WAIT = 30.0  # seconds for any one answer; a reply's first chunk comes from the model


class SmokeFailed(Exception):
    """A step did not do what it should; the message says what to look at."""


@dataclass(frozen=True)
class Target:
    websocket_url: str
    region: str
    user_pool_client_id: str
    username: str
    password: str
    cognito_endpoint: str | None = None  # None: the real Cognito of the region
    key_location: str = "the stack's AI secret (output AiSecretArn)"


@dataclass
class _Socket:
    ws: ClientConnection
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def ask(
        self, frame: dict[str, Any], until: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        await self.ws.send(json.dumps(frame))
        return await self.wait(until)

    async def wait(self, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SmokeFailed(f"no answer within {WAIT:.0f} s; last frames: {self.seen[-3:]}")
            received: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            self.seen.append(received)
            if until(received):
                return received


def _of_type(*types: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("type") in types


async def run_smoke(target: Target, say: Callable[[str], None] = print) -> None:
    """Every step in order; raises :class:`SmokeFailed` at the first that fails."""
    try:
        async with connect(target.websocket_url, open_timeout=WAIT) as ws:
            anonymous = _Socket(ws)
            pong = await anonymous.ask({"action": "ping"}, _of_type("pong", "error"))
            _expect(pong.get("type") == "pong", f"ping answered {pong}")
            status = await anonymous.ask({"action": "debug_status"}, _of_type("debug_status"))
            _expect(status["connectionInfo"]["isAuthenticated"] is False, f"anonymous? {status}")
            refused = await anonymous.ask(
                {"action": "chat_message", "data": {"message": "smoke"}}, _of_type("error")
            )
            _expect(refused.get("code") == "AUTH_REQUIRED", f"anonymous chat answered {refused}")
        say("ok  anonymous: ping, debug_status, chat refused with AUTH_REQUIRED")
    except InvalidStatus as refused_handshake:
        # A stack with AllowAnonymousConnections=false (prod) refuses the handshake.
        status_code = refused_handshake.response.status_code
        _expect(status_code == 401, f"an anonymous handshake was answered {status_code}")
        say("ok  anonymous: handshake refused with 401 (AllowAnonymousConnections=false)")

    tokens = sign_in(
        endpoint=target.cognito_endpoint,
        region=target.region,
        client_id=target.user_pool_client_id,
        username=target.username,
        password=target.password,
    )
    say(f"ok  signed in as {target.username}")

    conversation = f"smoke_{int(time.time())}_{uuid.uuid4().hex[:6]}"
    async with connect(f"{target.websocket_url}?token={tokens['idToken']}") as ws:
        user = _Socket(ws)
        try:
            await _chat_turn(user, conversation, target)
            say(f"ok  chat turn streamed in {conversation}")
            history = await user.ask(
                {"action": "chat_history", "data": {"conversationId": conversation}},
                _of_type("chat_history", "error"),
            )
            roles = [m.get("role") for m in history.get("messages", [])]
            _expect(roles == ["user", "assistant"], f"chat_history answered {history}")
            listed = await user.ask(
                {"action": "list_conversations", "data": {"limit": 100}},
                _of_type("conversations", "error"),
            )
            ids = [c["conversationId"] for c in listed.get("conversations", [])]
            _expect(conversation in ids, f"list_conversations misses it: {listed}")
            say("ok  chat_history and list_conversations show it")
        finally:
            deleted = await user.ask(
                {"action": "delete_conversation", "data": {"conversationId": conversation}},
                lambda f: (
                    f.get("type") == "conversation_deleted"
                    or (f.get("type") == "error" and f.get("action") == "delete_conversation")
                ),
            )
        _expect(deleted.get("type") == "conversation_deleted", f"delete answered {deleted}")
    say("ok  cleaned up: conversation deleted, disconnected")


async def _chat_turn(user: _Socket, conversation: str, target: Target) -> None:
    client_id = f"smoke-{uuid.uuid4().hex[:12]}"
    await user.ws.send(
        json.dumps(
            {
                "action": "chat_message",
                "data": {
                    "conversationId": conversation,
                    "message": "Smoke test: answer in one short sentence.",
                    "clientMessageId": client_id,
                },
            }
        )
    )
    received = await user.wait(_of_type("message_received", "error"))
    _check_error(received, target)
    final = await user.wait(_of_type("ai_response", "error"))
    _check_error(final, target)
    chunks = [f for f in user.seen if f.get("type") == "ai_response_chunk"]
    _expect(bool(chunks), "the reply came without any ai_response_chunk: not streamed")
    _expect(
        [c["seq"] for c in chunks] == list(range(len(chunks))),
        f"chunk seq has gaps: {[c['seq'] for c in chunks]}",
    )
    joined = "".join(c["delta"] for c in chunks)
    _expect(
        final.get("contentTruncated") or joined == final["content"],
        "the chunks do not add up to the final content",
    )


def _check_error(frame: dict[str, Any], target: Target) -> None:
    if frame.get("type") != "error":
        return
    if frame.get("code") == "AI_NOT_CONFIGURED":
        raise SmokeFailed(
            "chat is refused with AI_NOT_CONFIGURED: the AI provider's key is missing or "
            f"rejected. Put it into {target.key_location}:\n"
            "  aws secretsmanager put-secret-value --secret-id <AiSecretArn> "
            '--secret-string \'{"apiKey": "sk-..."}\''
        )
    raise SmokeFailed(f"the chat turn failed: {frame}")


def _expect(condition: bool, failure: str) -> None:
    if not condition:
        raise SmokeFailed(failure)


def target_from_outputs(
    outputs: dict[str, str], *, region: str, username: str, password: str
) -> Target:
    """A deployed stack, from its CloudFormation Outputs."""
    return Target(
        websocket_url=outputs["WebSocketUrl"],
        region=region,
        user_pool_client_id=outputs["UserPoolClientId"],
        username=username,
        password=password,
        key_location=f"the secret {outputs.get('AiSecretArn', '(output AiSecretArn)')}",
    )


class StackUnreadable(Exception):
    """A deployed stack's outputs could not be read; the message says why."""


def _deployed(stack: str, region: str, username: str, password: str) -> Target:
    import boto3

    try:
        described = boto3.client("cloudformation", region_name=region).describe_stacks(
            StackName=stack
        )["Stacks"][0]
    except NoCredentialsError:
        raise StackUnreadable(
            f"no AWS credentials to read the outputs of {stack}: `aws sso login` "
            "(AWS_PROFILE=<profile>), or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the "
            "environment."
        ) from None
    except (BotoCoreError, ClientError) as err:
        raise StackUnreadable(f"cannot read the outputs of {stack} in {region}: {err}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return target_from_outputs(outputs, region=region, username=username, password=password)


def _local(username: str | None, password: str | None) -> Target:
    state = read_state()
    demo = state["demoUser"]
    return Target(
        websocket_url=state["websocketUrl"],
        region=state["region"],
        user_pool_client_id=state["userPoolClientId"],
        username=username or demo["username"],
        password=password or demo["password"],
        cognito_endpoint=state["awsEndpointUrl"],
        key_location="the local secret (AI_API_KEY=... make run)",
    )


def samconfig_stack(environment: str, path: str = "samconfig.toml") -> tuple[str, str]:
    """The stack name and region samconfig.toml gives an environment."""
    import tomllib

    with open(path, "rb") as handle:
        config = tomllib.load(handle)
    if environment not in config:
        raise SmokeFailed(f"samconfig.toml has no environment {environment!r}")
    stack = config[environment]["global"]["parameters"]["stack_name"]
    region = config[environment].get("deploy", {}).get("parameters", {}).get("region")
    return str(stack), str(region or "us-east-1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", help="a samconfig.toml environment whose stack to test")
    parser.add_argument("--stack", help="a deployed stack's name (default: the local stack)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or "us-east-1")
    parser.add_argument("--username", default=os.environ.get("SMOKE_USERNAME"))
    parser.add_argument("--password", default=os.environ.get("SMOKE_PASSWORD"))
    args = parser.parse_args(argv)
    try:
        if args.env:
            args.stack, args.region = samconfig_stack(args.env)
        if args.stack:
            if not (args.username and args.password):
                print(
                    "make smoke: a deployed stack needs a user: set SMOKE_USERNAME and "
                    "SMOKE_PASSWORD (deploy/README.md shows how to create one).",
                    file=sys.stderr,
                )
                return 2
            target = _deployed(args.stack, args.region, args.username, args.password)
        else:
            target = _local(args.username, args.password)
        print(f"Smoke test of {target.websocket_url}")
        asyncio.run(run_smoke(target))
    except StackNotRunning as err:
        print(f"make smoke: {err}", file=sys.stderr)
        return 2
    except StackUnreadable as err:
        print(f"make smoke: {err}", file=sys.stderr)
        return 2
    except SmokeFailed as err:
        print(f"FAIL {err}", file=sys.stderr)
        return 1
    print("Smoke test passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
