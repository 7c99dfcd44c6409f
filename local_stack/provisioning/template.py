"""Reads template.yaml (CloudFormation short-form tags included) and turns its resource
definitions into the API calls that create them locally, so local and deployed
schemas cannot drift.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

__all__ = ["TEMPLATE", "Template", "load_template", "table_definition"]

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _Loader(yaml.SafeLoader):
    """A SafeLoader that keeps ``!Ref x`` as ``{"Ref": x}`` and ``!Sub s`` as ``{"Fn::Sub": s}``."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


class Template:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resources: dict[str, dict[str, Any]] = document.get("Resources", {})
        self.parameters: dict[str, dict[str, Any]] = document.get("Parameters", {})
        self.globals: dict[str, Any] = document.get("Globals", {})

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == kind}

    def properties(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resources[logical_id].get("Properties", {})
        return props


def load_template(path: Path = TEMPLATE) -> Template:
    with path.open(encoding="utf-8") as handle:
        return Template(yaml.load(handle, Loader=_Loader))  # noqa: S506 (a SafeLoader subclass)


def table_definition(template: Template, logical_id: str, table_name: str) -> dict[str, Any]:
    """``CreateTable`` arguments from an ``AWS::DynamoDB::Table`` resource."""
    props = template.properties(logical_id)
    definition: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in props:
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return definition


class BadParameter(ValueError):
    """A parameter override the template would refuse; the message says why."""


def parameter_overrides(text: str, template: Template) -> dict[str, str]:
    """``Name=Value Name2=Value2`` (as ``sam deploy --parameter-overrides`` takes them),
    checked against the template's own constraints, as CloudFormation would."""
    overrides: dict[str, str] = {}
    for pair in shlex.split(text):
        name, sep, value = pair.partition("=")
        spec = template.parameters.get(name)
        if not sep or spec is None:
            known = ", ".join(template.parameters)
            raise BadParameter(f"{pair!r} is not Name=Value for a template parameter ({known})")
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(a) for a in allowed]:
            raise BadParameter(f"{name} must be one of {', '.join(map(str, allowed))}")
        pattern, longest = spec.get("AllowedPattern"), spec.get("MaxLength")
        if pattern is not None and re.fullmatch(str(pattern), value) is None:
            raise BadParameter(f"{name} must match {pattern}, not {value!r}")
        if longest is not None and len(value) > int(longest):
            raise BadParameter(f"{name} must be at most {longest} characters")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise BadParameter(f"{name} must be a number, not {value!r}") from None
            low, high = spec.get("MinValue"), spec.get("MaxValue")
            if (low is not None and number < float(low)) or (
                high is not None and number > float(high)
            ):
                raise BadParameter(f"{name} must be between {low} and {high}")
        overrides[name] = value
    return overrides
