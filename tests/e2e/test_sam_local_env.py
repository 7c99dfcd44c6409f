"""The env-vars file `make run` writes for `sam local invoke --env-vars`: a function
given only the template's variables, with those values, works against the running
local stack. Docker cannot run here, so each function runs as SAM would start it in
its container: a fresh process with just those variables, the region and credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from local_stack.launcher import ROOT, Stack
from local_stack.provisioning.template import load_template

pytestmark = pytest.mark.e2e

# What `sam local invoke` adds itself: the region, the caller's credentials (any will
# do for the embedded AWS), the function's name and limits.
SAM_SETS = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_FUNCTION_TIMEOUT": "10",
}

_RUN = """
import json, sys, types
import app
context = types.SimpleNamespace(function_name="f", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
    aws_request_id="sam-local-1")
print(json.dumps(app.lambda_handler(json.loads(sys.stdin.read()), context)))
"""


def _sam_env(stack: Stack) -> dict[str, dict[str, str]]:
    document: dict[str, dict[str, str]] = json.loads(
        (stack.log.parent / "state" / "sam-env.json").read_text()
    )
    return document


def _invoke_as_sam_would(stack: Stack, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
    code = ROOT / str(load_template().properties(logical_id)["CodeUri"])
    layer = ROOT / "layers" / "realtime_chat"
    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{code}{os.pathsep}{layer}",
        **SAM_SETS,
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        **_sam_env(stack)[logical_id],
    }
    done = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", _RUN],
        input=json.dumps(event),
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    return event


def test_every_function_gets_only_declared_variables_pointing_at_the_stack(stack: Stack) -> None:
    template = load_template()
    declared = set(template.globals["Function"]["Environment"]["Variables"])
    env_vars = _sam_env(stack)
    assert set(env_vars) == set(template.of_type("AWS::Serverless::Function"))
    for logical_id, variables in env_vars.items():
        own = template.properties(logical_id).get("Environment", {}).get("Variables", {})
        assert set(variables) <= declared | set(own), logical_id  # SAM would drop the rest
        assert variables["LOCAL_AWS_ENDPOINT_URL"] == stack.state["awsEndpointUrl"]
        assert variables["CONNECTIONS_TABLE"] == stack.state["connectionsTable"]


def test_the_authorizer_verifies_a_token_against_the_local_pool(stack: Stack) -> None:
    event = _event("authorizer_query_token")
    event["queryStringParameters"]["token"] = stack.tokens()["idToken"]
    response = _invoke_as_sam_would(stack, "AuthorizerFunction", event)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert response["context"]["userEmail"] == stack.state["demoUser"]["email"]


def test_connect_records_the_connection_in_the_local_table(stack: Stack) -> None:
    event = _event("connect_with_token")
    event["requestContext"]["connectionId"] = "sam-local-connection="
    assert _invoke_as_sam_would(stack, "ConnectFunction", event) == {"statusCode": 200}
    item = stack.aws("dynamodb").get_item(
        TableName=stack.state["connectionsTable"],
        Key={"connectionId": {"S": "sam-local-connection="}},
    )
    assert "Item" in item
