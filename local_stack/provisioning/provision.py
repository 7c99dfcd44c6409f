"""Creates template.yaml's storage, queues, secret and user pool in the embedded AWS
(moto), from the template's own resource definitions, plus a demo user to sign in with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from local_stack.provisioning.template import Template, table_definition

__all__ = ["DemoUser", "LocalResources", "provision", "sign_in"]


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    email: str


@dataclass(frozen=True)
class LocalResources:
    """Physical ids by logical id (what ``!Ref`` gives), attributes by ``Logical.Name``
    (what ``!GetAtt`` gives), and the facts printed to the user."""

    refs: dict[str, str]
    connections_table: str
    chat_table: str
    secret_id: str
    user_pool_id: str
    user_pool_client_id: str
    demo_user: DemoUser
    attributes: dict[str, str] = field(default_factory=dict)


def _client(service: str, endpoint: str, region: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 (moto accepts any key)
    )


def provision(
    template: Template,
    *,
    endpoint: str,
    region: str,
    stack_name: str,
    api_key: str,
    demo_user: DemoUser,
) -> LocalResources:
    refs: dict[str, str] = {}
    dynamodb = _client("dynamodb", endpoint, region)
    for logical_id in template.of_type("AWS::DynamoDB::Table"):
        name = f"{stack_name}-{logical_id}"
        dynamodb.create_table(**table_definition(template, logical_id, name))
        ttl = template.properties(logical_id).get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        refs[logical_id] = name

    attributes = _create_queues(template, _client("sqs", endpoint, region), stack_name, refs)

    secrets = _client("secretsmanager", endpoint, region)
    (secret_id,) = template.of_type("AWS::SecretsManager::Secret")
    refs[secret_id] = secrets.create_secret(
        Name=f"{stack_name}-{secret_id}", SecretString=json.dumps({"apiKey": api_key})
    )["ARN"]

    cognito = _client("cognito-idp", endpoint, region)
    (pool_id,) = template.of_type("AWS::Cognito::UserPool")
    pool_props = template.properties(pool_id)
    pool = cognito.create_user_pool(
        PoolName=f"{stack_name}-{pool_id}",
        **{
            k: v
            for k, v in pool_props.items()
            if k in {"UsernameAttributes", "AutoVerifiedAttributes", "Policies"}
        },
    )["UserPool"]
    refs[pool_id] = pool["Id"]
    (client_id,) = template.of_type("AWS::Cognito::UserPoolClient")
    client_props = template.properties(client_id)
    client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName=f"{stack_name}-{client_id}",
        **{
            k: v
            for k, v in client_props.items()
            if k
            in {
                "GenerateSecret",
                "ExplicitAuthFlows",
                "ReadAttributes",
                "PreventUserExistenceErrors",
            }
        },
    )["UserPoolClient"]
    refs[client_id] = client["ClientId"]

    cognito.admin_create_user(
        UserPoolId=pool["Id"],
        Username=demo_user.username,
        UserAttributes=[
            {"Name": "email", "Value": demo_user.email},
            {"Name": "email_verified", "Value": "true"},
        ],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(
        UserPoolId=pool["Id"],
        Username=demo_user.username,
        Password=demo_user.password,
        Permanent=True,
    )
    tables = template.of_type("AWS::DynamoDB::Table")
    return LocalResources(
        refs=refs,
        connections_table=refs["ConnectionsTable"] if "ConnectionsTable" in tables else "",
        chat_table=refs["ChatTable"] if "ChatTable" in tables else "",
        secret_id=refs[secret_id],
        user_pool_id=pool["Id"],
        user_pool_client_id=client["ClientId"],
        demo_user=demo_user,
        attributes=attributes,
    )


# The queue properties that are queue attributes of the same name.
_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")


def _create_queues(
    template: Template, sqs: Any, stack_name: str, refs: dict[str, str]
) -> dict[str, str]:
    """Each ``AWS::SQS::Queue`` with its attributes and redrive policy (dead-letter
    queues first, so that a policy can name its queue's ARN); their ``Arn`` and
    ``QueueName`` attributes. ``refs`` gets their URLs."""
    attributes: dict[str, str] = {}
    queues = template.of_type("AWS::SQS::Queue")
    ordered = sorted(queues, key=lambda q: "RedrivePolicy" in template.properties(q))
    for logical_id in ordered:
        props = template.properties(logical_id)
        name = f"{stack_name}-{logical_id}"
        created = {k: str(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
        redrive = props.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            created["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": attributes[f"{target}.Arn"],
                    "maxReceiveCount": int(redrive["maxReceiveCount"]),
                }
            )
        url = sqs.create_queue(QueueName=name, Attributes=created)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        refs[logical_id] = url
        attributes[f"{logical_id}.Arn"] = arn["Attributes"]["QueueArn"]
        attributes[f"{logical_id}.QueueName"] = name
    return attributes


def sign_in(
    *, endpoint: str | None, region: str, client_id: str, username: str, password: str
) -> dict[str, str]:
    """USER_PASSWORD_AUTH against the local (or, with ``endpoint=None``, a deployed) pool."""
    cognito = (
        _client("cognito-idp", endpoint, region)
        if endpoint
        else boto3.client("cognito-idp", region_name=region)
    )
    result = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )["AuthenticationResult"]
    return {"idToken": result["IdToken"], "accessToken": result["AccessToken"]}
