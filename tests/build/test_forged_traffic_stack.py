"""What the stack offers against forged traffic: per-route throttles, origins enforced, signed ingest tokens."""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.decode import decode

from local.template import TEMPLATE, Template
from tests.build.stack import COMBINATIONS, Stack

# The public routes, throttled apart from the admin ones, and the parameters that tune each.
THROTTLED = {
    ("POST", "/v1/telemetry"): "Ingest",
    ("GET", "/v1/me/telemetry"): "UserTelemetry",
}


@pytest.fixture(params=list(COMBINATIONS))
def stack(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Stack:
    return stacks[request.param]


def ingest_variables(stack: Stack) -> dict[str, Any]:
    variables: dict[str, Any] = stack.functions["IngestFunction"]["Properties"]["Environment"]["Variables"]
    return variables


def _arn(resource: Any) -> str:
    """A policy's resource as an ARN: SAM's policy templates write it as Fn::Sub ["${secretArn}", {...}]."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text, names = resource["Fn::Sub"]
        for name, value in names.items():
            text = text.replace(f"${{{name}}}", value if isinstance(value, str) else "")
        return str(text)
    return resource if isinstance(resource, str) else ""


def secrets_read(stack: Stack, function_id: str) -> set[str]:
    """The secrets a function's role may read through its inline policies."""
    role = stack.props(stack.functions[function_id]["Properties"]["Role"]["Fn::GetAtt"][0])
    found: set[str] = set()
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "secretsmanager:GetSecretValue" in actions:
                resources = statement["Resource"]
                found |= {_arn(r) for r in (resources if isinstance(resources, list) else [resources])}
    return found


def test_each_public_route_has_its_own_throttle_from_its_parameters(stack: Stack, template: Template) -> None:
    (stage,) = stack.of_type("AWS::ApiGatewayV2::Stage").values()
    settings = {
        key: {k: str(v) for k, v in value.items()} for key, value in stage["Properties"]["RouteSettings"].items()
    }
    assert settings == {
        f"{method} {path}": {
            "ThrottlingBurstLimit": stack.parameters[f"{prefix}ThrottlingBurstLimit"],
            "ThrottlingRateLimit": stack.parameters[f"{prefix}ThrottlingRateLimit"],
        }
        for (method, path), prefix in THROTTLED.items()
    }
    # A key naming no route would fail the deployment: each is a route of a function's events.
    routes = {f"{r.method} {r.path}" for r in template.routes}
    assert set(settings) <= routes
    for prefix in set(THROTTLED.values()):
        for kind in ("Rate", "Burst"):
            default = template.parameters[f"{prefix}Throttling{kind}Limit"]["Default"]
            assert 1 <= int(default) <= int(template.parameters[f"ApiThrottling{kind}Limit"]["Default"])


def test_ingest_enforces_the_origins_cors_advertises(stack: Stack) -> None:
    (api,) = stack.of_type("AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["Body"]["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] == stack.parameters["AllowedOrigins"]
    assert {"x-ingest-key", "x-ingest-token"} <= set(cors["allowHeaders"])
    assert stack.evaluate(ingest_variables(stack)["ALLOWED_ORIGINS"]) == ",".join(stack.parameters["AllowedOrigins"])


def test_ingest_reads_the_token_secret_by_its_arn_only_when_one_is_given(stack: Stack) -> None:
    given = stack.given.get("IngestTokenSecretArn", "")
    variables = ingest_variables(stack)
    assert variables["INGEST_TOKEN_SECRET_ARN"] == given
    assert variables["INGEST_TOKEN_REQUIRED"] == stack.parameters["IngestTokenRequired"]
    assert str(variables["INGEST_TOKEN_MAX_LIFETIME_SECONDS"]) == stack.parameters["IngestTokenMaxLifetimeSeconds"]
    # The secret itself never appears: no function is given it as a variable.
    assert all(
        "INGEST_TOKEN_SECRET" not in fn["Properties"].get("Environment", {}).get("Variables", {})
        for fn in stack.functions.values()
    )
    assert (given in secrets_read(stack, "IngestFunction")) == bool(given)
    others = {f for f in set(stack.functions) - {"IngestFunction"} if "Role" in stack.functions[f]["Properties"]}
    assert not any(given and given in secrets_read(stack, f) for f in others)


def test_required_tokens_without_a_secret_are_refused_by_the_templates_rules() -> None:
    document, problems = decode(str(TEMPLATE))
    assert document is not None, problems
    rule = document["Rules"]["RequiredIngestTokensNeedASecret"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "IngestTokenRequired"}, "true"]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "IngestTokenSecretArn"}, ""]}]}
