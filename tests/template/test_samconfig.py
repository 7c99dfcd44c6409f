"""samconfig.toml: prod's abuse and cost defaults, dev's and prod's release styles,
tags on every environment, and the bootstrap's artifact bucket instead of SAM's."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest

from tests.support.templates import ROOT, overrides


def _deploy_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_script", ROOT / "scripts" / "deploy.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prod_refuses_anonymous_caps_replies_and_has_a_budget(samconfig: dict[str, Any]) -> None:
    prod = overrides(samconfig, "prod")
    assert prod["AllowAnonymousConnections"] == "false"
    assert int(prod["ReplyReservedConcurrency"]) > 0
    assert int(prod["MonthlyBudgetUsd"]) > 0
    assert prod["DeploymentType"].startswith("Canary")
    assert overrides(samconfig, "dev")["DeploymentType"] == "AllAtOnce"


@pytest.mark.parametrize("origins", ["", "https://app.example.com"])
def test_a_prod_deploy_refuses_empty_or_placeholder_origins(origins: str) -> None:
    deploy = _deploy_script()
    with pytest.raises(deploy.NotReady, match="AllowedOrigins"):
        deploy.check_origins("prod", {"AllowedOrigins": origins})
    deploy.check_origins("dev", {"AllowedOrigins": origins})  # dev may leave it open
    deploy.check_origins("prod", {"AllowedOrigins": "https://chat.acme.test"})


def test_every_environment_is_tagged_and_uses_the_bootstraps_bucket(
    samconfig: dict[str, Any],
) -> None:
    for environment in ("default", "dev", "prod"):
        parameters = samconfig[environment]["deploy"]["parameters"]
        assert "resolve_s3" not in parameters, environment
        assert (
            parameters["s3_prefix"] == samconfig[environment]["global"]["parameters"]["stack_name"]
        )
        tags = dict(item.split("=") for item in parameters["tags"].split())
        assert tags == {
            "app": "realtime-chat",
            "environment": environment.replace("default", "sandbox"),
        }


def test_the_bootstraps_outputs_become_the_stacks_parameters() -> None:
    deploy = _deploy_script()
    outputs = {
        "AppRoleBoundaryArn": "arn:aws:iam::123456789012:policy/cicd-realtime-chat-dev-boundary",
        "CodeDeployRoleArn": "arn:aws:iam::123456789012:role/cicd-realtime-chat-dev-codedeploy",
        "ArtifactBucketName": "cicd-realtime-chat-dev-artifactbucket-1",
    }
    arguments = deploy.sam_arguments("dev", outputs, {"StageName": "dev"})
    assert arguments[arguments.index("--s3-bucket") + 1] == outputs["ArtifactBucketName"]
    assert f"PermissionsBoundaryArn={outputs['AppRoleBoundaryArn']}" in arguments
    assert f"CodeDeployRoleArn={outputs['CodeDeployRoleArn']}" in arguments
    assert "StageName=dev" in arguments
