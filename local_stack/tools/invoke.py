"""Invoke one function with an ``events/`` file against the running local stack's
embedded AWS: what ``sam local invoke -e`` does, without Docker.

    make invoke FUNCTION=DefaultFunction EVENT=events/ping.json
    make invoke FUNCTION=MessageFunction EVENT=events/chat_message.json
    python -m local_stack.tools.invoke AuthorizerFunction events/authorizer_query_token.json

It reads and writes the running stack's tables as the user the event names. The
frames the function posts to ``@connections`` (a chat reply's too: its reply job goes
to a queue of this invoke's own, which feeds the reply function here, as the stack's
event source mapping would), and on a two-way route (``ping``) the response API
Gateway would send, are printed, not sent to any client. The placeholder token in the
authorizer and connect events is replaced by a fresh ID token of the demo user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from local_stack.api_gateway.api_model import api_model
from local_stack.event_sources.sqs_mapping import MappingSpec, SqsEventSource
from local_stack.lambda_runtime.workers import WorkerPool
from local_stack.log_view import readable
from local_stack.loopback import LoopbackServer, send_json
from local_stack.provisioning.intrinsics import Resolver
from local_stack.provisioning.provision import sign_in
from local_stack.provisioning.template import load_template
from local_stack.stack import function_specs, local_environment
from local_stack.state import StackNotRunning, read_state

__all__ = ["main"]

PLACEHOLDER = "REPLACE_WITH_A_COGNITO_ID_OR_ACCESS_TOKEN"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make invoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("function", help="logical id in template.yaml, e.g. DefaultFunction")
    parser.add_argument("event", type=Path, help="an events/*.json file")
    args = parser.parse_args(argv)
    try:
        text = _event_text(args.event)
        state = read_state()
    except (BadEvent, StackNotRunning) as err:
        print(f"make invoke: {err}", file=sys.stderr)
        return 2 if isinstance(err, BadEvent) else 1
    template = load_template()
    functions = template.of_type("AWS::Serverless::Function")
    if args.function not in functions:
        print(
            f"no function {args.function!r}; choose one of: {', '.join(functions)}", file=sys.stderr
        )
        return 2
    if PLACEHOLDER in text:
        user = state["demoUser"]
        token = sign_in(
            endpoint=state["awsEndpointUrl"],
            region=state["region"],
            client_id=state["userPoolClientId"],
            username=user["username"],
            password=user["password"],
        )["idToken"]
        text = text.replace(PLACEHOLDER, token)
    resources = {k: k for k in template.resources} | state["resources"]
    resolver = Resolver(
        template,
        region=state["region"],
        stack_name=state.get("stackName", "local"),
        resources=resources,
        parameters=state.get("parameters", {}),
    )
    environment = local_environment(state)
    specs = {
        s.logical_id: s
        for s in function_specs(
            template, resolver, environment, readable_logs=readable(dict(os.environ))
        )
    }
    event = json.loads(text)
    print(_who(args.function, event), flush=True)
    with _Capture(state["stage"]) as capture, _ReplyJobs(state) as jobs:
        callback = {
            "WEBSOCKET_CALLBACK_URL": f"{capture.url}/{state['stage']}",
            "AWS_ENDPOINT_URL_LAMBDA": capture.url,
        }
        spec = specs[args.function]
        if "REPLY_QUEUE_URL" in spec.environment:
            callback["REPLY_QUEUE_URL"] = jobs.url
        spec = replace(spec, environment={**spec.environment, **callback})
        worker = _worker(template)
        pool = WorkerPool(spec, max_workers=2)
        capture.pool = pool
        replies = None
        if worker is not None and worker != args.function:
            replies = WorkerPool(
                replace(specs[worker], environment={**specs[worker].environment, **callback}),
                max_workers=2,
            )
        try:
            result = pool.invoke(event)
            capture.wait(spec.timeout)
            if replies is not None:
                jobs.run(replies.invoke)
        finally:
            pool.close()
            if replies is not None:
                replies.close()
    if result.ok:
        route = (event.get("requestContext") or {}).get("routeKey")
        if route in api_model(template, resolver).two_way and isinstance(result.value, dict):
            # API Gateway sends the body to the client after the function returns.
            print(f"-> {_connection(event)} (route response): {result.value.get('body', '')}")
        print(json.dumps(result.value, indent=2))
        return 0
    print(f"{result.error_type}: {result.error}", file=sys.stderr)
    return 1


def _worker(template: Any) -> str | None:
    """The function the template's SQS event source mapping feeds (the reply worker)."""
    for resource in template.of_type("AWS::Lambda::EventSourceMapping").values():
        target = resource["Properties"]["FunctionName"]
        name = target.get("Ref") or target.get("Fn::GetAtt", [""])[0]
        return str(name).split(".", 1)[0]
    return None


class _ReplyJobs:
    """A queue of this invoke's own in the stack's embedded AWS, drained into the
    reply function by a local event source mapping, then deleted."""

    def __init__(self, state: dict[str, Any]) -> None:
        import boto3

        self._state = state
        self._sqs = boto3.client(
            "sqs",
            endpoint_url=state["awsEndpointUrl"],
            region_name=state["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 (the embedded AWS takes any)
        )
        self.url = ""

    def __enter__(self) -> _ReplyJobs:
        name = f"invoke-{uuid.uuid4().hex}"
        self.url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        return self

    def __exit__(self, *exc: object) -> None:
        self._sqs.delete_queue(QueueUrl=self.url)

    def run(self, invoke: Any) -> None:
        """Deliver every job the invoke queued, and wait for their replies."""
        arn = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        spec = MappingSpec(
            "invoke", "ReplyFunction", self.url, arn["Attributes"]["QueueArn"], 10, None, True
        )
        mapping = SqsEventSource(
            spec, sqs=self._sqs, invoke=invoke, region=self._state["region"], wait_seconds=1
        ).start()
        try:
            while self._held():
                time.sleep(0.05)
        finally:
            mapping.close()

    def _held(self) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        got = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)
        return sum(int(v) for v in got["Attributes"].values())


class BadEvent(Exception):
    """The event file is missing, unreadable or not a JSON object."""


def _event_text(path: Path) -> str:
    """The event file's text, checked to be a JSON object (``BadEvent`` otherwise)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise BadEvent(
            f"cannot read the event file {path}: {err.strerror} (EVENT=events/<name>.json)"
        ) from None
    try:
        event = json.loads(text)
    except ValueError as err:
        raise BadEvent(f"{path} is not JSON: {err}") from None
    if not isinstance(event, dict):
        raise BadEvent(f"{path} is not a JSON object, as Lambda events are")
    return text


def _connection(event: dict[str, Any]) -> str:
    return str((event.get("requestContext") or {}).get("connectionId", ""))


def _who(function: str, event: dict[str, Any]) -> str:
    """What the invoke acts as: the user, connection and conversation the event names."""
    context = event.get("requestContext") or {}
    user = (context.get("authorizer") or {}).get("userId") or "anonymous (no authorizer context)"
    line = f"Invoking {function} as user {user}"
    if context.get("connectionId"):
        line += f", connection {context['connectionId']}"
    try:
        body = json.loads(event.get("body") or "{}")
        conversation = (body.get("data") or {}).get("conversationId")
    except (ValueError, AttributeError):
        conversation = None
    if conversation:
        line += f", conversation {conversation}"
    return line + ". It uses the running stack's tables; frames it sends are shown here."


class _Capture(LoopbackServer):
    """``@connections`` and the Lambda Invoke API on 127.0.0.1 for one invoke: posted
    frames are printed, and asynchronous invokes (a chat reply) run in the same pool."""

    def __init__(self, stage: str) -> None:
        self.pool: WorkerPool | None = None
        self._jobs: list[threading.Thread] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if f"/{stage}/@connections/" in self.path:
                    connection_id = unquote(self.path.rsplit("/", 1)[-1])
                    print(f"-> {connection_id}: {body.decode('utf-8', 'replace')}", flush=True)
                    send_json(self, 200, None)
                elif "/invocations" in self.path and capture.pool is not None:
                    job = threading.Thread(
                        target=capture.pool.invoke, args=(json.loads(body),), daemon=True
                    )
                    capture._jobs.append(job)
                    job.start()
                    send_json(self, 202, None)
                else:
                    send_json(self, 404, {"message": "not served by make invoke"})

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float) -> None:
        for job in list(self._jobs):
            job.join(timeout)


if __name__ == "__main__":
    sys.exit(main())
