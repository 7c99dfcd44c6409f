"""Print template.yaml as CloudFormation receives it, after the SAM transform, as JSON.

Runs offline under the tools venv (samtranslator comes with SAM CLI): local code
paths become placeholder S3 URIs, and no AWS call is made. The template tests read
this output (tests/template/conftest.py).

Usage: sam-transform.py TEMPLATE [Name=Value ...] (parameter values, as sam deploy's
--parameter-overrides: the transform resolves DeploymentPreference's Type with them).
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


class _NoIamLoader(ManagedPolicyLoader):
    """The template names managed policies by ARN: nothing to look up in IAM."""

    def __init__(self) -> None:
        pass

    def load(self) -> dict[str, str]:
        return {}


def transformed(path: Path, parameters: dict[str, str]) -> dict[str, Any]:
    template = yaml_parse(path.read_text())
    for logical_id, resource in template.get("Resources", {}).items():
        key = CODE_PROPERTIES.get(resource.get("Type", ""))
        if key and isinstance(resource.get("Properties", {}).get(key), str):
            resource["Properties"][key] = f"s3://artifacts/{logical_id}.zip"
    return dict(transform(template, parameters, _NoIamLoader()))


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    values = dict(pair.split("=", 1) for pair in sys.argv[2:])
    json.dump(transformed(source, values), sys.stdout, indent=1, default=str)
