"""Resolving CloudFormation intrinsics (Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Equals) for
the local stack: parameters take their defaults (or overrides), resources their local
names, pseudo parameters the local account and region."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from local_stack.provisioning.template import Template

__all__ = ["Resolver"]

_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    def __init__(
        self,
        template: Template,
        *,
        region: str,
        stack_name: str,
        account: str = "123456789012",
        resources: Mapping[str, str] | None = None,
        attributes: Mapping[str, str] | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.values: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::StackName": stack_name,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,  # a property set to it is absent
        }
        for name, spec in template.parameters.items():
            self.values[name] = str(spec.get("Default", ""))
        self.values.update(parameters or {})
        self.values.update(resources or {})
        self.attributes = dict(attributes or {})

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.document.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            return self._ref(arg)
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::GetAtt":
            return self._attribute(".".join(arg) if isinstance(arg, list) else arg)
        if key == "Fn::If":
            name, then, otherwise = arg
            return self.resolve(then if self.condition(name) else otherwise)
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if key == "Condition":
            return self.condition(arg)
        return {key: self.resolve(arg)}

    def _ref(self, name: str) -> Any:
        if name not in self.values:
            raise KeyError(f"template.yaml: nothing local stands for !Ref {name}")
        return self.values[name]

    def _attribute(self, name: str) -> str:
        if name in self.attributes:
            return self.attributes[name]
        logical_id, _, attribute = name.partition(".")
        if attribute == "Arn":
            region, account = self.values["AWS::Region"], self.values["AWS::AccountId"]
            return f"arn:aws:local:{region}:{account}:{logical_id}"
        raise KeyError(f"template.yaml: nothing local stands for !GetAtt {name}")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                return self._attribute(name)
            return str(self._ref(name))

        return _SUB.sub(replace, text)
