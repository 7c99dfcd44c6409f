"""template.yaml's parameters accept exactly what the functions accept: a value
CloudFormation lets through never fails a function at cold start."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.provisioning.template import Template, load_template
from realtime_chat.settings import BOUNDS

TEMPLATE = load_template()
BOOLEAN_VARIABLES = {"ALLOW_ANONYMOUS_CONNECTIONS"}


def _fed_variables(template: Template) -> dict[str, str]:
    """Each function environment variable set from a parameter: variable -> parameter."""
    blocks = [template.globals.get("Function", {})] + [
        r["Properties"] for r in template.of_type("AWS::Serverless::Function").values()
    ]
    fed = {}
    for block in blocks:
        for name, value in block.get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and value.get("Ref") in template.parameters:
                fed[name] = value["Ref"]
    return fed


FED = _fed_variables(TEMPLATE)


@pytest.mark.parametrize("variable", sorted(v for v in FED if v in BOUNDS))
def test_a_numeric_parameter_has_the_bounds_its_variable_is_read_with(variable: str) -> None:
    parameter: dict[str, Any] = TEMPLATE.parameters[FED[variable]]
    low, high = BOUNDS[variable]
    assert parameter["Type"] == "Number", FED[variable]
    assert (parameter["MinValue"], parameter["MaxValue"]) == (low, high), FED[variable]
    assert low <= float(parameter["Default"]) <= high


def test_every_numeric_parameter_a_function_reads_is_bounded_in_the_code() -> None:
    numeric = {v for v, p in FED.items() if TEMPLATE.parameters[p]["Type"] == "Number"}
    assert numeric and numeric <= set(BOUNDS), numeric - set(BOUNDS)


@pytest.mark.parametrize("variable", sorted(BOOLEAN_VARIABLES))
def test_a_boolean_parameter_allows_only_true_and_false(variable: str) -> None:
    assert TEMPLATE.parameters[FED[variable]]["AllowedValues"] == ["true", "false"]


def test_every_number_parameter_has_both_bounds() -> None:
    for name, parameter in TEMPLATE.parameters.items():
        if parameter["Type"] == "Number" and "AllowedValues" not in parameter:
            assert {"MinValue", "MaxValue"} <= parameter.keys(), name


def test_no_function_has_a_fixed_name_so_any_stack_name_fits_lambdas_64_characters() -> None:
    functions = TEMPLATE.of_type("AWS::Serverless::Function")
    assert functions and not [k for k, f in functions.items() if "FunctionName" in f["Properties"]]


def test_stateful_resources_survive_a_stack_deletion_or_replacement() -> None:
    # RetainExceptOnCreate: a failed first create leaves nothing behind to block the next.
    for logical_id in ("ConnectionsTable", "ChatTable", "UserPool", "AiSecret"):
        resource = TEMPLATE.resources[logical_id]
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate", logical_id
        assert resource["UpdateReplacePolicy"] == "Retain", logical_id
    assert TEMPLATE.properties("ChatTable")["DeletionProtectionEnabled"] is True
    assert TEMPLATE.properties("UserPool")["DeletionProtection"] == "ACTIVE"
