"""The bootstrap's execution role allows every action CloudFormation's resource
handlers need for every resource type the transformed app template creates: a
missing permission fails here, by name, instead of half-way through a deploy.

The actions come from the resource schemas cfn-lint bundles (``handlers.create /
read / update / delete .permissions``, the registry's own lists). Action names only:
whether each statement's resources and conditions reach the stack's resources is
what a first deploy in a real account confirms (docs/operations.md)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint.data.schemas

from tests.support.templates import allowed_actions, allows

SCHEMAS = Path(cfnlint.data.schemas.__file__).parent
REGION = "us-east-1"

# Handler permissions for features this stack does not use, each with its reason.
NOT_NEEDED = {
    "iam:passrole": "only SNS delivery-status logging and Cognito SMS pass a role: unused",
    "iam:getrole": "SNS asks for it with delivery-status logging roles only",
    "iam:createservicelinkedrole": "Cognito's service-linked role (SMS, advanced security): unused",
    "kms:creategrant": "Cognito's and Secrets Manager's customer managed keys: none here",
    "kms:decrypt": "customer managed keys on Cognito/Lambda/DynamoDB: none here (AWS owned keys)",
    "kms:encrypt": "as kms:decrypt",
    "kms:generatedatakey": "as kms:decrypt",
    "kms:generatedatakeywithoutplaintext": "as kms:decrypt",
    "kms:reencryptfrom": "as kms:decrypt",
    "kms:reencryptto": "as kms:decrypt",
    "kms:listaliases": "keys are referenced by id, never by alias",
    "apigateway:tagresource": "no such IAM action (cfn-lint W3037): tags are PUT/DELETE on /tags",
    "apigateway:untagresource": "as apigateway:tagresource",
    "lambda:getcodesigningconfig": "no code signing config",
    "ec2:describenetworkinterfaces": "no VPC functions",
    "ec2:describesecuritygroups": "no VPC functions",
    "ec2:describesubnets": "no VPC functions",
    "ec2:describevpcs": "no VPC functions",
    "elasticfilesystem:describemounttargets": "no EFS file systems",
    "dynamodb:enablekinesisstreamingdestination": "no Kinesis streaming",
    "dynamodb:disablekinesisstreamingdestination": "no Kinesis streaming",
    "dynamodb:putresourcepolicy": "no table resource policies",
    "dynamodb:deleteresourcepolicy": "no table resource policies",
    "dynamodb:describeimport": "tables are not imported from S3",
    "dynamodb:importtable": "tables are not imported from S3",
    "kinesis:describestream": "no Kinesis streaming",
    "kinesis:putrecords": "no Kinesis streaming",
    "logs:describeindexpolicies": "no log index policies",
    "logs:putindexpolicy": "no log index policies",
    "logs:deleteindexpolicy": "no log index policies",
    "logs:describeresourcepolicies": "no log resource policies",
    "logs:putresourcepolicy": "no log resource policies",
    "logs:deleteresourcepolicy": "no log resource policies",
    "logs:putbearertokenauthentication": "no bearer-token log ingestion",
    "codedeploy:registeronpremisesinstance": "EC2/on-premises deployments only; these are Lambda",
    "secretsmanager:getsecretvalue": "the secret's value is never read by CloudFormation",
    "secretsmanager:replicatesecrettoregions": "no replication",
    "secretsmanager:removeregionsfromreplication": "no replication",
    "dynamodb:associatetablereplica": "no global tables (replicas)",
    "dynamodb:createtablereplica": "no global tables (replicas)",
    "dynamodb:updatekinesisstreamingdestination": "no Kinesis streaming",
    "dynamodb:batchwriteitem": "item writes: the table handler's import from S3 only; none here",
    "dynamodb:putitem": "as dynamodb:batchwriteitem",
    "dynamodb:updateitem": "as dynamodb:batchwriteitem",
    "dynamodb:deleteitem": "as dynamodb:batchwriteitem",
    "dynamodb:getitem": "as dynamodb:batchwriteitem",
    "dynamodb:query": "as dynamodb:batchwriteitem",
    "dynamodb:scan": "as dynamodb:batchwriteitem",
    "s3:getobjectmetadata": "the table handler's import from S3 only",
    "s3:listbucket": "the table handler's import from S3 only",
    "logs:createlogstream": "the table handler's import from S3 logs its errors; no import here",
    "logs:describelogstreams": "as logs:createlogstream",
    "logs:putlogevents": "as logs:createlogstream",
    "kms:revokegrant": "customer managed keys on tables: none here",
    "iam:deleterolepermissionsboundary": "removing a boundary is what it exists to forbid",
    "lambda:associateruntimealias": "no runtime alias",
    "lambda:passcapacityprovider": "no Lambda capacity providers (managed instances)",
    "lambda:putfunctioncodesigningconfig": "no code signing config",
    "lambda:deletefunctioncodesigningconfig": "no code signing config",
    "s3files:listmounttargets": "no S3 file system mounts",
    "firehose:tagdeliverystream": "log groups deliver to no Firehose stream",
    "s3:rest.put.object": "log groups deliver to no bucket",
    "logs:putloggroupdeletionprotection": "log groups go with the stack (logs expire)",
}


@cache
def _handler_permissions(resource_type: str) -> frozenset[str]:
    providers = json.loads((SCHEMAS / "providers" / f"{REGION}.json").read_text())
    schema = json.loads((SCHEMAS / "resources" / f"{providers[resource_type]}.json").read_text())
    handlers: dict[str, Any] = schema.get("handlers", {})
    return frozenset(
        permission.lower()
        for name, handler in handlers.items()
        if name in ("create", "read", "update", "delete")
        for permission in handler.get("permissions", [])
    )


def _types(app: dict[str, Any]) -> list[str]:
    return sorted({r["Type"] for r in app["Resources"].values()})


def test_every_resource_type_of_the_stack_has_a_schema_with_handlers(app: dict[str, Any]) -> None:
    for resource_type in _types(app):
        assert _handler_permissions(resource_type), resource_type


def test_the_execution_role_allows_every_action_each_resource_type_needs(
    app: dict[str, Any], bootstrap: dict[str, Any]
) -> None:
    # GIVEN what the execution role allows, and every type the transformed stack creates
    allowed = allowed_actions(bootstrap["Resources"]["ExecutionRole"])
    # WHEN each type's create/read/update/delete handler permissions are looked up
    missing = {
        resource_type: sorted(
            action
            for action in _handler_permissions(resource_type)
            if not allows(allowed, action) and action not in NOT_NEEDED
        )
        for resource_type in _types(app)
    }
    # THEN none is missing (a new resource type names the actions to add here)
    assert {t: a for t, a in missing.items() if a} == {}


def test_every_skipped_permission_says_why_and_is_one_a_handler_of_the_stack_lists(
    app: dict[str, Any],
) -> None:
    listed = set().union(*(_handler_permissions(t) for t in _types(app)))
    assert {a: r for a, r in NOT_NEEDED.items() if not r or a not in listed} == {}
