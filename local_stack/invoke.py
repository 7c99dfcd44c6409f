"""Invoke one function with an ``events/`` file against the running local stack's
embedded AWS: what ``sam local invoke -e`` does, without Docker.

    make invoke FUNCTION=DefaultFunction EVENT=events/ping.json
    python -m local_stack.invoke AuthorizerFunction events/authorizer_query_token.json

The placeholder token in the authorizer and connect events is replaced by a fresh
ID token of the demo user.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from local_stack.intrinsics import Resolver
from local_stack.provision import sign_in
from local_stack.stack import function_specs, local_environment
from local_stack.state import StackNotRunning, read_state
from local_stack.template import load_template
from local_stack.workers import WorkerPool

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
        state = read_state()
    except StackNotRunning as err:
        print(err, file=sys.stderr)
        return 1
    template = load_template()
    functions = template.of_type("AWS::Serverless::Function")
    if args.function not in functions:
        print(
            f"no function {args.function!r}; choose one of: {', '.join(functions)}", file=sys.stderr
        )
        return 2
    text = args.event.read_text()
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
    )
    specs = {s.logical_id: s for s in function_specs(template, resolver, local_environment(state))}
    pool = WorkerPool(specs[args.function], max_workers=1)
    try:
        result = pool.invoke(json.loads(text))
    finally:
        pool.close()
    if result.ok:
        print(json.dumps(result.value, indent=2))
        return 0
    print(f"{result.error_type}: {result.error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
