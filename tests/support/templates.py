"""Reading CloudFormation templates in tests: SAM's transform (offline, in SAM CLI's
venv), short-form YAML, samconfig overrides, and what an IAM policy allows."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

__all__ = [
    "ROOT",
    "TransformFailed",
    "allowed_actions",
    "allows",
    "cfn_template",
    "overrides",
    "resources",
    "sam_transformed",
    "statements",
]

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"


class TransformFailed(Exception):
    """The SAM transform could not run or refused the template (the message says why)."""


def sam_transformed(**parameters: str) -> dict[str, Any]:
    """template.yaml through samtranslator (SAM CLI's, in the tools venv), offline;
    ``parameters`` are parameter values, as sam deploy's --parameter-overrides."""
    if not TOOLS_PYTHON.exists():
        raise TransformFailed(f"{TOOLS_PYTHON} is missing: `make setup` creates it")
    pairs = [f"{name}={value}" for name, value in parameters.items()]
    script = ROOT / "scripts" / "sam-transform.py"
    result = subprocess.run(  # noqa: S603 - our own script, with our own arguments
        [str(TOOLS_PYTHON), str(script), "template.yaml", *pairs],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        timeout=120,
    )
    if result.returncode != 0:
        raise TransformFailed(result.stderr)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def cfn_template(path: Path) -> dict[str, Any]:
    """A CloudFormation YAML file, its short-form intrinsics (!Sub) as long forms."""
    document: dict[str, Any] = json.loads(json.dumps(cfn_yaml.loads(path.read_text())))
    return document


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def overrides(samconfig: dict[str, Any], environment: str) -> dict[str, str]:
    """An environment's parameter_overrides, as name -> value."""
    text = samconfig[environment]["deploy"]["parameters"].get("parameter_overrides", "")
    return dict(item.split("=", 1) for item in shlex.split(text))


def statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement of a role's inline policies."""
    for policy in role["Properties"].get("Policies", []):
        yield from policy["PolicyDocument"]["Statement"]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed_actions(role: dict[str, Any]) -> list[str]:
    """The action patterns the role's Allow statements name (lowercase)."""
    return [
        action.lower()
        for statement in statements(role)
        if statement["Effect"] == "Allow"
        for action in _listed(statement["Action"])
    ]


def allows(patterns: list[str], action: str) -> bool:
    """Does one of the IAM action patterns (with * and ?) match the action?"""
    return any(fnmatch.fnmatchcase(action.lower(), pattern) for pattern in patterns)
