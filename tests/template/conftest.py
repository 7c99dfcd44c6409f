"""Session fixtures: the app template after the SAM transform, template.yaml itself,
the bootstrap template, samconfig.toml and the workflows. Nothing here calls AWS."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
import yaml

from tests.support.templates import ROOT, TransformFailed, cfn_template, sam_transformed


@pytest.fixture(scope="session")
def app() -> dict[str, Any]:
    """The transformed app template with its parameters' defaults."""
    try:
        return sam_transformed()
    except TransformFailed as failure:
        pytest.fail(f"the SAM transform failed:\n{failure}", pytrace=False)


@pytest.fixture(scope="session")
def source() -> dict[str, Any]:
    """template.yaml before the transform."""
    return cfn_template(ROOT / "template.yaml")


@pytest.fixture(scope="session")
def bootstrap() -> dict[str, Any]:
    return cfn_template(ROOT / "deploy" / "bootstrap.yaml")


@pytest.fixture(scope="session")
def samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict[str, Any]]:
    folder = ROOT / ".github" / "workflows"
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yml"))}
