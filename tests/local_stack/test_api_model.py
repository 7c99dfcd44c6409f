"""The WebSocket API the local gateway reads from template.yaml is the one the
functions are written for: which routes exist, and which are two-way."""

from __future__ import annotations

from local_stack.api_gateway.api_model import api_model
from local_stack.provisioning.intrinsics import Resolver
from local_stack.provisioning.template import load_template
from realtime_chat.dispatch import TWO_WAY_ROUTES

TEMPLATE = load_template()
MODEL = api_model(
    TEMPLATE,
    Resolver(
        TEMPLATE,
        region="us-east-1",
        stack_name="test",
        resources={k: k for k in TEMPLATE.resources},
    ),
)


def test_the_routes_with_a_route_response_are_the_ones_the_functions_answer_in_their_response() -> (
    None
):
    # A two-way route the functions did not know of would send each client an empty
    # message; one the template lacks would drop the answer.
    assert MODEL.two_way == TWO_WAY_ROUTES


def test_ping_goes_to_the_function_that_answers_every_other_non_chat_action() -> None:
    assert MODEL.routes["ping"] == MODEL.routes["$default"]
    assert MODEL.routes["chat_message"] != MODEL.routes["$default"]


def test_every_route_the_default_function_serves_may_invoke_it() -> None:
    # Each route key needs its own Lambda permission (SourceArn .../*/<route key>), on
    # the live alias the integrations call.
    arns = [
        str(p["Properties"]["SourceArn"]["Fn::Sub"])
        for p in TEMPLATE.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": "DefaultFunction.Alias"}
    ]
    served = {key for key, function in MODEL.routes.items() if function == "DefaultFunction"}
    assert {arn.rsplit("/", 1)[-1] for arn in arns} == served
