"""template.yaml as CloudFormation receives it (after the SAM transform): bounded
roles, releases through the live alias that roll back on alarms, alarms that reach
someone and fire on faults, signals kept per stack, data kept after the first create."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.templates import resources, sam_transformed

FUNCTIONS = [
    "AuthorizerFunction",
    "ConnectFunction",
    "DisconnectFunction",
    "DefaultFunction",
    "MessageFunction",
    "ReplyFunction",
]
ALIAS = "live"


def test_every_role_the_stack_creates_carries_the_bootstraps_boundary(app: dict[str, Any]) -> None:
    roles = resources(app, "AWS::IAM::Role")
    assert set(roles) == {f"{f}Role" for f in FUNCTIONS}  # CodeDeploy's comes from the bootstrap
    for logical_id, role in roles.items():
        assert role["Properties"]["PermissionsBoundary"] == {
            "Fn::If": ["HasBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]
        }, logical_id
    # AND a deploy without the boundary (or CodeDeploy's role) is refused up front
    (assertion,) = app["Rules"]["DeployedWithItsBootstrap"]["Assertions"]
    assert "PermissionsBoundaryArn" in json.dumps(assertion) and "CodeDeployRoleArn" in json.dumps(
        assertion
    )


def test_every_managed_policy_is_on_the_bootstraps_allow_list(
    app: dict[str, Any], bootstrap: dict[str, Any]
) -> None:
    attach = next(
        s
        for s in bootstrap["Resources"]["ExecutionRole"]["Properties"]["Policies"][0][
            "PolicyDocument"
        ]["Statement"]
        if s["Sid"] == "ManagedPoliciesFromTheAllowList"
    )
    allowed = {
        a["Fn::Sub"].replace("${AWS::Partition}", "aws")
        for a in attach["Condition"]["ArnEquals"]["iam:PolicyARN"]
    }
    for logical_id, role in resources(app, "AWS::IAM::Role").items():
        assert set(role["Properties"].get("ManagedPolicyArns", [])) <= allowed, logical_id


def test_the_app_stack_leaves_api_gateways_account_settings_to_the_bootstrap(
    app: dict[str, Any],
) -> None:
    assert not resources(app, "AWS::ApiGateway::Account")
    assert "CreateApiGatewayLogsRole" not in app["Parameters"]


def test_every_function_publishes_the_live_alias_and_releases_through_codedeploy(
    app: dict[str, Any],
) -> None:
    aliases = resources(app, "AWS::Lambda::Alias")
    assert set(aliases) == {f"{f}Alias{ALIAS}" for f in FUNCTIONS}
    for function in FUNCTIONS:
        alias = aliases[f"{function}Alias{ALIAS}"]
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["DeploymentGroupName"] == {"Ref": f"{function}DeploymentGroup"}
        group = app["Resources"][f"{function}DeploymentGroup"]["Properties"]
        assert group["ServiceRoleArn"] == {"Ref": "CodeDeployRoleArn"}
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        alarms = {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]}
        assert alarms == {
            "FunctionErrorRateAlarm",
            "FailedRepliesAlarm",
            "ApiIntegrationErrorAlarm",
        }


@pytest.mark.parametrize(
    ("deployment", "config"),
    [("AllAtOnce", "AllAtOnce"), ("Canary10Percent5Minutes", "Canary10Percent5Minutes")],
)
def test_the_deployment_type_parameter_picks_codedeploys_config(
    deployment: str, config: str
) -> None:
    # GIVEN dev's and prod's DeploymentType WHEN the template is transformed with it
    transformed = sam_transformed(DeploymentType=deployment)
    # THEN every function's deployment group shifts traffic that way
    for function in FUNCTIONS:
        name = transformed["Resources"][f"{function}DeploymentGroup"]["Properties"][
            "DeploymentConfigName"
        ]
        assert name == {
            "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": config}]
        }


def _sub_text(value: Any) -> str:
    return (
        str(value["Fn::Sub"])
        if isinstance(value, dict) and "Fn::Sub" in value
        else json.dumps(value)
    )


def test_integrations_authorizer_and_permissions_call_the_live_alias(app: dict[str, Any]) -> None:
    uris = [
        i["Properties"]["IntegrationUri"]
        for i in resources(app, "AWS::ApiGatewayV2::Integration").values()
    ]
    uris += [
        a["Properties"]["AuthorizerUri"]
        for a in resources(app, "AWS::ApiGatewayV2::Authorizer").values()
    ]
    assert len(uris) == 5
    for uri in uris:
        assert re.search(rf"\$\{{\w+FunctionAlias{ALIAS}\}}", _sub_text(uri)), uri
        assert ".Arn}" not in _sub_text(uri), uri
    permissions = resources(app, "AWS::Lambda::Permission")
    assert len(permissions) == 8  # one per route and the authorizer
    for logical_id, permission in permissions.items():
        target = permission["Properties"]["FunctionName"]
        assert re.fullmatch(rf"\w+FunctionAlias{ALIAS}", target.get("Ref", "")), logical_id


def _statements(app: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = app["Resources"][role]["Properties"].get("Policies", [])
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_the_reply_queue_delivers_batches_to_the_live_alias_of_the_reply_function(
    app: dict[str, Any],
) -> None:
    # GIVEN the event source mapping SAM leaves as written
    (mapping,) = resources(app, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    # THEN it reads the reply queue into the reply function's live alias, never $LATEST
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["ReplyQueue", "Arn"]}
    assert props["FunctionName"] == {"Ref": f"ReplyFunctionAlias{ALIAS}"}
    # AND a lone job starts at once, batches hold up to ReplyBatchSize jobs, each job
    # reported on its own, and the concurrency cap is there only when set
    assert props["MaximumBatchingWindowInSeconds"] == 0
    assert props["BatchSize"] == {"Ref": "ReplyBatchSize"}
    assert app["Parameters"]["ReplyBatchSize"]["MaxValue"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"] == {
        "Fn::If": [
            "CapReplyConcurrency",
            {"MaximumConcurrency": {"Ref": "ReplyMaxConcurrency"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    # AND the chat function no longer streams replies itself
    assert not resources(app, "AWS::Lambda::EventInvokeConfig")


def test_the_reply_queue_is_encrypted_redelivers_late_and_keeps_its_dead_letters(
    app: dict[str, Any],
) -> None:
    queue = app["Resources"]["ReplyQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert app["Resources"]["FailedRepliesQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    # AWS: a visibility timeout of at least 6x the function's timeout, whatever it is set to
    longest = app["Parameters"]["ReplyTimeoutSeconds"]["MaxValue"]
    assert queue["VisibilityTimeout"] >= 6 * longest
    # AND a job that failed on every delivery lands in the dead-letter queue, which an
    # alarm watches (and which stops a release)
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["FailedRepliesQueue", "Arn"]}
    assert redrive["maxReceiveCount"] >= 5
    alarm = app["Resources"]["FailedRepliesAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailedRepliesQueue", "QueueName"]}}
    ]
    # AND a backlog (jobs waiting to start) has an alarm of its own
    age = app["Resources"]["ReplyJobAgeAlarm"]["Properties"]
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["ReplyQueue", "QueueName"]}


_QUEUE_ROLES = {"MessageFunctionRole", "ReplyFunctionRole"}


def test_only_the_chat_function_sends_reply_jobs_and_only_the_reply_function_takes_them(
    app: dict[str, Any],
) -> None:
    queue = {"Fn::GetAtt": ["ReplyQueue", "Arn"]}
    sqs = {
        role: [s for s in _statements(app, role) if any(a.startswith("sqs:") for a in _actions(s))]
        for role in (f"{f}Role" for f in FUNCTIONS)
    }
    assert sqs["MessageFunctionRole"] == [
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": queue}
    ]
    assert sqs["ReplyFunctionRole"] == [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": queue,
        }
    ]
    assert not [role for role, found in sqs.items() if found and role not in _QUEUE_ROLES]
    # AND no managed policy on queues (SAM's SQS event would attach one for every queue)
    for role in sqs:
        arns = app["Resources"][role]["Properties"].get("ManagedPolicyArns", [])
        assert "SQS" not in json.dumps(arns), role
    # AND the AI key is the reply function's alone
    readers = [
        role
        for role in sqs
        if any("secretsmanager:GetSecretValue" in _actions(s) for s in _statements(app, role))
    ]
    assert readers == ["ReplyFunctionRole"]


def _alarms(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: a["Properties"] for k, a in resources(app, "AWS::CloudWatch::Alarm").items()}


def test_every_alarm_notifies_when_it_fires_and_when_it_clears(app: dict[str, Any]) -> None:
    topic = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
    alarms = _alarms(app)
    assert len(alarms) >= 10
    for logical_id, alarm in alarms.items():
        assert alarm["AlarmActions"] == [topic], logical_id
        assert alarm["OKActions"] == [topic], logical_id
    # AND the stack's own topic is encrypted with a key the alarms may use
    topic_props = app["Resources"]["AlarmTopic"]["Properties"]
    assert topic_props["KmsMasterKeyId"] == {"Ref": "AlarmKey"}
    key_policy = app["Resources"]["AlarmKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any("cloudwatch.amazonaws.com" in s["Principal"].get("Service", []) for s in key_policy)
    assert app["Resources"]["AlarmEmailSubscription"]["Condition"] == "SubscribeAlarmEmail"


def _metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    if "MetricName" in alarm:
        return [
            {
                "Namespace": alarm["Namespace"],
                "MetricName": alarm["MetricName"],
                "Dimensions": alarm["Dimensions"],
            }
        ]
    return [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]


def test_no_alarm_fires_on_a_refused_token(app: dict[str, Any]) -> None:
    # The authorizer raises Unauthorized for a bad token, which Lambda counts in Errors.
    for logical_id, alarm in _alarms(app).items():
        for metric in _metrics(alarm):
            if metric["MetricName"] in ("Errors", "Invocations"):
                assert {
                    "Name": "FunctionName",
                    "Value": {"Ref": "AuthorizerFunction"},
                } not in metric["Dimensions"], logical_id
    # AND the authorizer's real fault has an alarm of its own
    assert _alarms(app)["TokenKeysUnavailableAlarm"]["MetricName"] == "TokenKeysUnavailable"


def test_function_errors_alarm_as_a_rate_not_a_count(app: dict[str, Any]) -> None:
    for logical_id, alarm in _alarms(app).items():
        names = {m["MetricName"] for m in _metrics(alarm)}
        if "Errors" in names:
            assert "Invocations" in names, logical_id


def test_signals_are_per_stack_so_dev_never_trips_prods_alarms(app: dict[str, Any]) -> None:
    variables = app["Resources"]["MessageFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    for logical_id, alarm in _alarms(app).items():
        for metric in _metrics(alarm):
            if metric["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]:
                assert {"Name": "service", "Value": {"Ref": "AWS::StackName"}} in metric[
                    "Dimensions"
                ], logical_id
    body = app["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    searches = re.findall(r"SEARCH\('[^']*'", body)
    assert searches and all('service=\\"${AWS::StackName}\\"' in s for s in searches), searches
    assert "realtime-chat" not in body
    for logical_id, group in resources(app, "AWS::Logs::LogGroup").items():
        name = group["Properties"].get("LogGroupName")
        assert name is None or "${" in _sub_text(name), (
            logical_id
        )  # named after a function of this stack


def test_stateful_resources_are_kept_after_their_first_create(app: dict[str, Any]) -> None:
    kinds = ("AWS::DynamoDB::Table", "AWS::Cognito::UserPool", "AWS::SecretsManager::Secret")
    stateful = {k: r for kind in kinds for k, r in resources(app, kind).items()}
    assert len(stateful) == 4
    for logical_id, resource in stateful.items():
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate", logical_id
        assert resource["UpdateReplacePolicy"] == "Retain", logical_id


def test_no_policy_in_the_stack_allows_every_action_or_every_resource(app: dict[str, Any]) -> None:
    documents = [
        p["Properties"]["PolicyDocument"] for p in resources(app, "AWS::IAM::RolePolicy").values()
    ]
    for role in resources(app, "AWS::IAM::Role").values():
        documents += [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
    for document in documents:
        for statement in document["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert "*" not in actions and not [a for a in actions if str(a).endswith(":*")], (
                statement
            )
            assert statement.get("Resource") != "*", statement


RESOURCE_VALUE_CHARS = 200  # an ARN, table name or URL CloudFormation fills in, at most


def _longest(value: Any, parameters: dict[str, Any]) -> int:
    """The most characters a variable's value can have once CloudFormation resolves it."""
    if isinstance(value, str | int | float):
        return len(str(value))
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        parameter = parameters[value["Ref"]]
        if "MaxLength" in parameter:
            return int(parameter["MaxLength"])
        if "AllowedValues" in parameter:
            return max(len(str(v)) for v in parameter["AllowedValues"])
        if parameter["Type"] == "Number":
            return len(str(parameter.get("MaxValue", 10**12)))
        return RESOURCE_VALUE_CHARS  # a free-text parameter without MaxLength
    return RESOURCE_VALUE_CHARS


def test_the_longest_system_prompt_keeps_every_functions_environment_under_4_kb(
    app: dict[str, Any],
) -> None:
    # GIVEN every parameter at its longest (AiSystemPrompt at its MaxLength)
    parameters = app["Parameters"]
    assert parameters["AiSystemPrompt"]["MaxLength"] <= 2000
    for function in FUNCTIONS:
        variables = app["Resources"][function]["Properties"]["Environment"]["Variables"]
        # WHEN the environment's names and values are added up
        size = sum(len(name) + _longest(value, parameters) for name, value in variables.items())
        # THEN it fits Lambda's 4 KB for all of a function's variables
        assert size < 4096, (function, size)


def test_the_ai_provider_is_reached_over_https_only(app: dict[str, Any]) -> None:
    assert app["Parameters"]["AiBaseUrl"]["AllowedPattern"] == "^https://.+"


def _policy_actions(app: dict[str, Any]) -> dict[str, set[str]]:
    """Each function role's actions: its inline policies and the invoke-itself one."""
    granted: dict[str, set[str]] = {}
    for logical_id, role in resources(app, "AWS::IAM::Role").items():
        documents = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
        documents += [
            p["Properties"]["PolicyDocument"]
            for p in resources(app, "AWS::IAM::RolePolicy").values()
            if p["Properties"]["RoleName"] == {"Ref": logical_id}
        ]
        granted[logical_id] = {
            action.lower()
            for document in documents
            for statement in document["Statement"]
            for action in (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
        }
    return granted


def test_the_boundary_leaves_every_function_the_actions_its_policies_grant(
    app: dict[str, Any], bootstrap: dict[str, Any]
) -> None:
    # GIVEN the boundary the bootstrap puts on every role of the stack
    boundary = bootstrap["Resources"]["AppRoleBoundary"]["Properties"]["PolicyDocument"]
    bounded = {
        action.lower()
        for statement in boundary["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    # WHEN each function's own policies are read THEN the boundary cuts none of them
    # (an action a new use case needs goes into both, or it fails only in AWS)
    assert {
        role: sorted(actions - bounded)
        for role, actions in _policy_actions(app).items()
        if actions - bounded
    } == {}


def test_the_execution_role_manages_only_the_key_its_stack_tags(
    app: dict[str, Any], bootstrap: dict[str, Any]
) -> None:
    # GIVEN the tag the stack's alarm key carries from its creation
    tags = app["Resources"]["AlarmKey"]["Properties"]["Tags"]
    assert tags == [{"Key": "realtime-chat:stack", "Value": {"Ref": "AWS::StackName"}}]
    # THEN the execution role's key statement asks for that tag, with its stack's name
    role = bootstrap["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (key,) = [s for s in role["Statement"] if s["Sid"] == "AlarmTopicKey"]
    assert key["Condition"]["StringEquals"] == {
        "aws:ResourceTag/realtime-chat:stack": {"Fn::Sub": "${StackNamePrefix}-${Environment}"}
    }


def test_bedrock_may_be_invoked_on_exactly_the_configured_models_and_only_with_them(
    app: dict[str, Any],
) -> None:
    # GIVEN the policy that lets the reply function stream from Bedrock
    policy = app["Resources"]["ReplyFunctionInvokesBedrock"]
    # THEN it exists only when BedrockModelArns names something
    assert policy["Condition"] == "InvokesBedrock"
    assert app["Conditions"]["InvokesBedrock"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "BedrockModelArns"}]}, ""]}]
    }
    # AND allows ConverseStream's one action on those ARNs, nothing else
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["bedrock:InvokeModelWithResponseStream"]
    assert statement["Resource"] == {"Ref": "BedrockModelArns"}
    assert policy["Properties"]["RoleName"] == {"Ref": "ReplyFunctionRole"}


def test_the_ai_routes_reach_the_reply_function_and_default_to_todays_provider(
    app: dict[str, Any],
) -> None:
    variables = app["Resources"]["ReplyFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["AI_ROUTES"] == {"Ref": "AiRoutes"}
    assert app["Parameters"]["AiRoutes"]["Default"] == ""  # openai:<AiModel>, as before


def test_an_alarm_per_provider_says_which_one_is_failing(app: dict[str, Any]) -> None:
    alarms = _alarms(app)
    for logical_id, provider in [
        ("BedrockRouteFailingAlarm", "bedrock"),
        ("OpenAiRouteFailingAlarm", "openai"),
    ]:
        alarm = alarms[logical_id]
        assert alarm["MetricName"] == "ModelRouteFailed"
        assert {"Name": "route", "Value": provider} in alarm["Dimensions"]
