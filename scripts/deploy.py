"""`make deploy ENV=<env>`: check the account is ready, then sam deploy that environment.

Before SAM runs, and each failure says how to fix it:
- AWS credentials, and whose they are;
- the environment's bootstrap stack (cicd-<stack name>, deploy/bootstrap.yaml): its
  artifact bucket, permissions boundary and CodeDeploy role are passed to sam deploy;
- API Gateway's account-level CloudWatch Logs role is set in the region (the stage's
  access logs need it; the bootstrap sets it);
- prod has AllowedOrigins (the deploy refuses an empty or placeholder list);
- a stack left in ROLLBACK_COMPLETE by a failed first create is deleted (only then).

Modes: by default sam deploy runs (samconfig decides whether it asks first);
``--check`` only checks the above (it needs boto3, not SAM CLI: `make deploy` runs it
first, from the run venv, before installing SAM CLI and building);
``--plan`` creates the change set without executing it and writes it to the job
summary and ``change_set`` to GITHUB_OUTPUT; ``--execute NAME`` executes a planned
change set and waits. Other arguments go to sam deploy as they are.

Runs in the tools venv (boto3 and sam from SAM CLI), ``--check`` in any venv with
boto3; installs nothing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

ROOT = Path(__file__).resolve().parent.parent
SAM = str(Path(sys.executable).parent / "sam")
PLACEHOLDER = "https://app.example.com"
DOCS = "docs/operations.md#first-deploy-in-a-fresh-account"


class NotReady(Exception):
    """The account or the configuration is not ready; the message says what to do."""


def samconfig(environment: str) -> tuple[str, str, dict[str, str]]:
    """The environment's stack name, region and parameter overrides."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    if environment not in config:
        raise NotReady(f"samconfig.toml has no environment {environment!r}")
    stack = str(config[environment]["global"]["parameters"]["stack_name"])
    deploy = config[environment].get("deploy", {}).get("parameters", {})
    text = str(deploy.get("parameter_overrides", ""))
    values = dict(item.split("=", 1) for item in shlex.split(text))
    return stack, str(deploy.get("region", "us-east-1")), values


def check_origins(environment: str, values: dict[str, str]) -> None:
    origins = values.get("AllowedOrigins", "")
    if environment == "prod" and (not origins or PLACEHOLDER in origins):
        raise NotReady(
            "prod needs AllowedOrigins: set your web app's origin(s) in samconfig.toml's "
            f"[prod.deploy.parameters] parameter_overrides (now {origins or 'empty'!r}): "
            "an empty list lets every browser origin connect."
        )


def bootstrap_outputs(session: boto3.Session, stack: str) -> dict[str, str]:
    name = f"cicd-{stack}"
    try:
        found = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as err:
        raise NotReady(
            f"no bootstrap stack {name} ({err.response['Error']['Message']}): deploy "
            f"deploy/bootstrap.yaml as {name} first ({DOCS})."
        ) from None
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def check_api_gateway_logs_role(session: boto3.Session, values: dict[str, str]) -> None:
    if values.get("AccessLogs", "true") == "false":
        return
    account = session.client("apigateway").get_account()
    if not account.get("cloudwatchRoleArn"):
        raise NotReady(
            f"API Gateway has no CloudWatch Logs role in {session.region_name}, so the "
            "stage's access logs would fail the deploy (\"CloudWatch Logs role ARN must be "
            'set in account settings"). Deploy the bootstrap stack with '
            f"SetApiGatewayLogsRole=true in this region ({DOCS}), or set AccessLogs=false."
        )


def clear_failed_first_create(session: boto3.Session, stack: str, *, may_delete: bool) -> None:
    """A stack whose first create rolled back cannot be updated: delete it, only then."""
    cloudformation = session.client("cloudformation")
    try:
        status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError:
        return  # no stack yet
    if status != "ROLLBACK_COMPLETE":
        return
    if not may_delete:
        raise NotReady(
            f"{stack} is in ROLLBACK_COMPLETE (its first create failed) and this role may "
            "not delete it: run the deploy job once more (it deletes such a stack), or "
            f"delete it in the console ({DOCS})."
        )
    print(f"{stack} is in ROLLBACK_COMPLETE (its first create failed): deleting it.")
    cloudformation.delete_stack(StackName=stack)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack)


def sam_arguments(environment: str, outputs: dict[str, str], values: dict[str, str]) -> list[str]:
    try:
        values = {
            **values,
            "PermissionsBoundaryArn": outputs["AppRoleBoundaryArn"],
            "CodeDeployRoleArn": outputs["CodeDeployRoleArn"],
        }
        bucket = outputs["ArtifactBucketName"]
    except KeyError as missing:
        raise NotReady(f"the bootstrap stack has no output {missing}: update it ({DOCS})") from None
    overrides = [f"{name}={value}" for name, value in values.items()]
    return [
        "deploy", "--config-env", environment, "--s3-bucket", bucket,
        "--parameter-overrides", *overrides,
    ]  # fmt: skip


def summarize(session: boto3.Session, stack: str, change_set: str) -> str:
    described = session.client("cloudformation").describe_change_set(
        StackName=stack, ChangeSetName=change_set
    )
    lines = [
        f"### Change set `{change_set}` for `{stack}`",
        "",
        "| Action | Logical id | Type | Replacement |",
        "|---|---|---|---|",
    ]
    for change in described.get("Changes", []):
        resource: dict[str, Any] = change.get("ResourceChange", {})
        lines.append(
            f"| {resource.get('Action', '')} | {resource.get('LogicalResourceId', '')} | "
            f"{resource.get('ResourceType', '')} | {resource.get('Replacement', '')} |"
        )
    if len(lines) == 4:
        lines.append("| (no changes) | | | |")
    return "\n".join(lines) + "\n"


def newest_change_set(session: boto3.Session, stack: str) -> str:
    listed = session.client("cloudformation").list_change_sets(StackName=stack)["Summaries"]
    ready = [s for s in listed if s.get("Status") == "CREATE_COMPLETE"]
    if not ready:
        raise NotReady(f"sam deploy made no change set for {stack} (nothing to change?)")
    return str(max(ready, key=lambda s: s["CreationTime"])["ChangeSetName"])


def execute(session: boto3.Session, stack: str, change_set: str) -> None:
    cloudformation = session.client("cloudformation")
    status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    creating = status == "REVIEW_IN_PROGRESS"  # a stack that so far is only a change set
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=change_set)
    waiter = "stack_create_complete" if creating else "stack_update_complete"
    print(f"Executing {change_set} on {stack}; waiting for CloudFormation...")
    cloudformation.get_waiter(waiter).wait(
        StackName=stack, WaiterConfig={"Delay": 15, "MaxAttempts": 240}
    )


def _write(variable: str, text: str) -> None:
    path = os.environ.get(variable)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("environment")
    parser.add_argument("--plan", action="store_true", help="create the change set only")
    parser.add_argument("--execute", metavar="CHANGE_SET", help="execute a planned change set")
    parser.add_argument(
        "--check", action="store_true", help="only check the account is ready (no sam needed)"
    )
    args, sam_extra = parser.parse_known_args(argv)
    stack, region, values = samconfig(args.environment)
    session = boto3.Session(region_name=region)
    try:
        identity = session.client("sts").get_caller_identity()
    except (NoCredentialsError, BotoCoreError, ClientError) as err:
        raise NotReady(
            f"no usable AWS credentials ({err}). Provide them the usual way: `aws configure "
            "sso` then `aws sso login` (AWS_PROFILE=<profile> make deploy ...), or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN. CI assumes the "
            "environment's deploy role through GitHub OIDC (deploy/README.md)."
        ) from None
    if args.check:  # before SAM CLI is installed and the build runs: fail in seconds
        check_origins(args.environment, values)
        bootstrap_outputs(session, stack)
        check_api_gateway_logs_role(session, values)
        print(f"'{args.environment}' ({stack}) is ready to deploy as {identity['Arn']}.")
        return 0
    print(f"Deploying '{args.environment}' ({stack}) as {identity['Arn']}.")
    if args.execute:
        execute(session, stack, args.execute)
        return 0
    check_origins(args.environment, values)
    outputs = bootstrap_outputs(session, stack)
    check_api_gateway_logs_role(session, values)
    clear_failed_first_create(session, stack, may_delete=not args.plan)
    command = [SAM, *sam_arguments(args.environment, outputs, values), *sam_extra]
    if args.plan:
        command += ["--no-execute-changeset"]
    subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 - sam, our arguments
    if args.plan:
        change_set = newest_change_set(session, stack)
        summary = summarize(session, stack, change_set)
        print(summary)
        _write("GITHUB_STEP_SUMMARY", summary)
        _write("GITHUB_OUTPUT", f"change_set={change_set}\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except NotReady as reason:
        print(f"make deploy: {reason}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as failed:
        sys.exit(failed.returncode)
