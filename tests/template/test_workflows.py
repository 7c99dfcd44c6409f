"""The workflows: actions pinned to commits, OIDC tokens only where a role is
assumed, nothing installed once credentials exist, and deploys gated on the tests
of the same commit, one build promoted dev -> prod through a reviewed change set."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.support.templates import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
INSTALLS = re.compile(
    r"pip install|npm (install|ci)|apt-get|snap install|make (setup|\S*\.installed)"
)


def _jobs(workflows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{name}:{job}": spec for name, w in workflows.items() for job, spec in w["jobs"].items()
    }


def _assumes_a_role(job: dict[str, Any]) -> bool:
    return any("configure-aws-credentials" in step.get("uses", "") for step in job.get("steps", []))


def test_every_action_is_pinned_to_a_commit_with_its_version_beside_it() -> None:
    uses = [
        line.strip()
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for line in path.read_text().splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]
    assert uses
    for line in uses:
        reference = line.split("uses:", 1)[1].strip()
        if reference.startswith("./"):
            continue  # a workflow of this repository, at this commit
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", reference), line


def test_oidc_tokens_only_for_the_jobs_that_assume_a_role(
    workflows: dict[str, dict[str, Any]],
) -> None:
    for name, workflow in workflows.items():
        assert "id-token" not in (workflow.get("permissions") or {}), name
    for job_id, job in _jobs(workflows).items():
        wants_token = (job.get("permissions") or {}).get("id-token") == "write"
        assert wants_token == _assumes_a_role(job), job_id


def test_nothing_is_installed_after_credentials_are_configured(
    workflows: dict[str, dict[str, Any]],
) -> None:
    for job_id, job in _jobs(workflows).items():
        configured = False
        for step in job.get("steps", []):
            configured = configured or "configure-aws-credentials" in step.get("uses", "")
            if configured:
                assert not INSTALLS.search(step.get("run", "")), (job_id, step.get("name"))


def test_deploys_follow_the_tests_of_the_same_commit_and_one_build(
    workflows: dict[str, dict[str, Any]],
) -> None:
    deploy = workflows["deploy.yml"]
    test_workflow = workflows["test.yml"]
    assert "workflow_call" in test_workflow[True]  # PyYAML reads the key `on` as True
    jobs = deploy["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/test.yml"
    assert jobs["build"]["needs"] == "test"
    assert [jobs[j]["needs"] for j in ("deploy-dev", "plan-prod", "deploy-prod")] == [
        "build",
        "deploy-dev",
        "plan-prod",
    ]
    build_runs = " ".join(s.get("run", "") for s in jobs["build"]["steps"])
    assert "make build" in build_runs
    for job_id in ("deploy-dev", "plan-prod", "deploy-prod"):
        runs = " ".join(s.get("run", "") for s in jobs[job_id]["steps"])
        assert "make build" not in runs and "make deploy " not in runs, job_id
        assert "make deploy-built" in runs, job_id


def test_prod_shows_its_change_set_before_approval_executes_it_then_smoke_tests(
    workflows: dict[str, dict[str, Any]],
) -> None:
    jobs = workflows["deploy.yml"]["jobs"]
    assert jobs["plan-prod"]["environment"] == "prod-plan"
    assert jobs["deploy-prod"]["environment"] == "prod"
    plan = [s.get("run", "") for s in jobs["plan-prod"]["steps"]]
    assert any("--plan" in run for run in plan)
    runs = [s.get("run", "") for s in jobs["deploy-prod"]["steps"]]
    executes = next(i for i, run in enumerate(runs) if "--execute" in run)
    smoke = next(i for i, run in enumerate(runs) if "make smoke ENV=prod" in run)
    assert executes < smoke


def test_dependabot_keeps_actions_and_python_pins_current() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"] for u in config["updates"]}
    assert ecosystems == {"github-actions", "pip"}
