"""deploy/bootstrap.yaml: the pipeline's roles cannot take the account over, each
GitHub environment reaches only its own stack, and the account-wide pieces the app
stack relies on (artifact bucket, API Gateway's logs role) live here."""

from __future__ import annotations

from typing import Any

from tests.support.templates import resources, statements

ROLE_WRITES = {
    "iam:createrole",
    "iam:putrolepolicy",
    "iam:attachrolepolicy",
    "iam:detachrolepolicy",
    "iam:deleterolepolicy",
    "iam:putrolepermissionsboundary",
}
APP_ROLES = "role/${StackNamePrefix}-${Environment}-*"
APP_STACK = "stack/${StackNamePrefix}-${Environment}/*"


def _role(bootstrap: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return bootstrap["Resources"][logical_id]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {a.lower() for a in (action if isinstance(action, list) else [action])}


def _subs(value: Any) -> list[str]:
    """The Fn::Sub strings of a Resource (one or a list)."""
    values = value if isinstance(value, list) else [value]
    return [v["Fn::Sub"] for v in values if isinstance(v, dict) and "Fn::Sub" in v]


def test_every_role_write_requires_the_boundary_the_bootstrap_owns(
    bootstrap: dict[str, Any],
) -> None:
    # GIVEN the execution role CloudFormation deploys the app stack with
    role = _role(bootstrap, "ExecutionRole")
    # WHEN a statement lets it create, change or attach to a role
    writes = [s for s in statements(role) if _actions(s) & ROLE_WRITES]
    # THEN each requires AppRoleBoundary on that role, and only roles named after the stack
    assert writes
    covered: set[str] = set()
    for statement in writes:
        assert statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == {
            "Ref": "AppRoleBoundary"
        }, statement["Sid"]
        assert all(s.endswith(APP_ROLES) for s in _subs(statement["Resource"])), statement["Sid"]
        covered |= _actions(statement)
    assert covered >= ROLE_WRITES
    # AND nothing may remove a boundary
    every = {a for s in statements(role) for a in _actions(s)}
    assert "iam:deleterolepermissionsboundary" not in every
    assert not [a for a in every if a.startswith("iam:") and "*" in a]


def test_managed_policies_come_only_from_the_allow_list(bootstrap: dict[str, Any]) -> None:
    role = _role(bootstrap, "ExecutionRole")
    attaches = [s for s in statements(role) if "iam:attachrolepolicy" in _actions(s)]
    assert len(attaches) == 1
    allowed = [p["Fn::Sub"] for p in attaches[0]["Condition"]["ArnEquals"]["iam:PolicyARN"]]
    assert sorted(allowed) == [
        "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ]


def test_pass_role_reaches_only_bounded_app_roles_and_codedeploys_role(
    bootstrap: dict[str, Any],
) -> None:
    passes = [
        s for s in statements(_role(bootstrap, "ExecutionRole")) if "iam:passrole" in _actions(s)
    ]
    targets = {}
    for statement in passes:
        service = statement["Condition"]["StringEquals"]["iam:PassedToService"]
        targets[service] = statement["Resource"]
    assert targets == {
        "lambda.amazonaws.com": {
            "Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:{APP_ROLES}"
        },
        "codedeploy.amazonaws.com": {"Fn::GetAtt": ["CodeDeployRole", "Arn"]},
    }


def test_the_bootstraps_own_roles_are_outside_what_the_pipeline_may_touch(
    bootstrap: dict[str, Any],
) -> None:
    for logical_id, role in resources(bootstrap, "AWS::IAM::Role").items():
        name = role["Properties"]["RoleName"]["Fn::Sub"]
        assert not name.startswith("${StackNamePrefix}"), logical_id
    boundary = bootstrap["Resources"]["AppRoleBoundary"]["Properties"]["ManagedPolicyName"]
    assert boundary["Fn::Sub"].startswith("cicd-")
    # AND the execution role cannot write policies (the boundary itself) at all
    every = {a for s in statements(_role(bootstrap, "ExecutionRole")) for a in _actions(s)}
    assert not {a for a in every if "policyversion" in a or a == "iam:createpolicy"}


def test_the_deploy_role_trusts_exactly_one_github_environment(bootstrap: dict[str, Any]) -> None:
    (trust,) = _role(bootstrap, "DeployRole")["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert set(trust["Condition"]) == {"StringEquals"}  # no StringLike wildcard
    assert trust["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": {
            "Fn::Sub": "repo:${GitHubRepository}:environment:${Environment}"
        },
    }


def test_the_deploy_role_changes_only_its_own_environments_stack(bootstrap: dict[str, Any]) -> None:
    for statement in statements(_role(bootstrap, "DeployRole")):
        cloudformation = {a for a in _actions(statement) if a.startswith("cloudformation:")}
        if not cloudformation or cloudformation == {"cloudformation:validatetemplate"}:
            continue
        for resource in _subs(statement["Resource"]):
            assert resource.endswith((APP_STACK, "transform/Serverless-2016-10-31")), statement[
                "Sid"
            ]
    # AND it may delete that stack (a failed first create; the workflow checks the status)
    deletes = [
        s
        for s in statements(_role(bootstrap, "DeployRole"))
        if "cloudformation:deletestack" in _actions(s)
    ]
    assert [_subs(s["Resource"]) for s in deletes] == [
        [f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:{APP_STACK}"]
    ]


def test_no_statement_allows_everything_and_star_resources_are_few_and_named(
    bootstrap: dict[str, Any],
) -> None:
    # Resource "*" only where the service has no narrower resource (each Sid says why).
    expected = {
        "DeployRole": {"ValidateTakesNoResource"},
        "ExecutionRole": {
            "CreateWithoutAResourceYet",
            "EventSourceMappingsOfOwnFunctions",
            "ListsAndLogDeliveries",
            "BudgetBillingView",
        },
    }
    for logical_id, role in resources(bootstrap, "AWS::IAM::Role").items():
        stars = set()
        for statement in statements(role):
            assert "*" not in _actions(statement), (logical_id, statement.get("Sid"))
            assert not [a for a in _actions(statement) if a.endswith(":*")], (
                logical_id,
                statement.get("Sid"),
            )
            if statement["Resource"] == "*":
                stars.add(statement["Sid"])
        assert stars == expected.get(logical_id, set()), logical_id


def test_the_artifact_bucket_is_encrypted_versioned_expiring_and_tls_only(
    bootstrap: dict[str, Any],
) -> None:
    bucket = bootstrap["Resources"]["ArtifactBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and "NoncurrentVersionExpiration" in rule
    (deny,) = bootstrap["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_api_gateways_logs_role_is_set_here_and_outlives_the_stack(
    bootstrap: dict[str, Any],
) -> None:
    for logical_id in ("ApiGatewayLogsRole", "ApiGatewayAccount"):
        resource = bootstrap["Resources"][logical_id]
        assert resource["DeletionPolicy"] == "Retain", logical_id
        assert resource["Condition"] == "CreateApiGatewayLogsRole"
    account = bootstrap["Resources"]["ApiGatewayAccount"]["Properties"]
    assert account["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayLogsRole", "Arn"]}


def test_the_plan_role_shows_prods_change_set_but_cannot_apply_it(
    bootstrap: dict[str, Any],
) -> None:
    # GIVEN the role of the job that runs before prod's reviewers approve
    role = _role(bootstrap, "PlanRole")
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    # THEN only that GitHub environment's jobs may assume it
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == {
        "Fn::Sub": "repo:${GitHubRepository}:environment:${PlanEnvironment}"
    }
    # AND it can create and read change sets on its stack, never execute or delete
    actions = {a for s in statements(role) for a in _actions(s)}
    assert "cloudformation:createchangeset" in actions
    assert not {"cloudformation:executechangeset", "cloudformation:deletestack"} & actions
