"""GET /v1/me/telemetry in the stack CloudFormation would create: behind a JWT authorizer, closed without an issuer.

With JwtIssuer empty the route exists but refuses every request twice over: the authorizer trusts
an issuer under .invalid, a domain that never resolves (RFC 2606), so no token can be verified;
and UserTelemetryFunction, given no JWT_ISSUER, refuses whatever claims reach it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from cfnlint.decode import decode

from local.template import TEMPLATE, Template, env_name
from tests.build.stack import COMBINATIONS, Stack

ROUTE = "/v1/me/telemetry"


@pytest.fixture(params=list(COMBINATIONS))
def stack(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Stack:
    return stacks[request.param]


def api_body(stack: Stack) -> dict[str, Any]:
    (api,) = stack.of_type("AWS::ApiGatewayV2::Api").values()
    body: dict[str, Any] = api["Properties"]["Body"]
    return body


def operations(stack: Stack) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in api_body(stack)["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
    }


def test_only_the_users_route_is_behind_the_jwt_authorizer_and_it_reaches_its_function(stack: Stack) -> None:
    guarded = {key: op["security"] for key, op in operations(stack).items() if op.get("security")}
    assert guarded == {("GET", ROUTE): [{"UserJwt": []}]}
    uri = operations(stack)[("GET", ROUTE)]["x-amazon-apigateway-integration"]["uri"]
    # Through the alias of its latest published version (AutoPublishAlias, for SnapStart).
    assert stack.references(uri) == {"UserTelemetryFunctionAliaslive"}


def test_the_authorizer_trusts_the_given_issuer_and_audiences_or_no_one(stack: Stack) -> None:
    scheme = api_body(stack)["components"]["securitySchemes"]["UserJwt"]["x-amazon-apigateway-authorizer"]
    assert scheme["type"] == "jwt"
    assert scheme["identitySource"] == "$request.header.Authorization"
    configuration = scheme["jwtConfiguration"]
    function = stack.functions["UserTelemetryFunction"]["Properties"]["Environment"]["Variables"]
    given = stack.given.get("JwtIssuer")
    if given:
        assert configuration["issuer"] == given == function["JWT_ISSUER"]
        assert configuration["audience"] == stack.given["JwtAudience"].split(",")
    else:
        host = urlparse(configuration["issuer"]).hostname or ""
        assert host.endswith(".invalid"), "without JwtIssuer the authorizer must trust an issuer that cannot exist"
        assert function["JWT_ISSUER"] == ""


def test_the_users_function_reads_the_database_and_no_other_secret(stack: Stack) -> None:
    role_id = stack.functions["UserTelemetryFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]
    role = stack.props(role_id)
    assert not role.get("Policies"), "no inline policy: the admin token's secret stays out of reach"
    managed = {next(iter(stack.references(arn))) for arn in role["ManagedPolicyArns"] if stack.references(arn)}
    assert managed == {"DatabaseSecretRead"}


def test_the_local_runner_takes_issuer_and_audience_from_the_parameters_the_authorizer_uses(
    template: Template,
) -> None:
    (route,) = [r for r in template.routes if r.path == ROUTE]
    authorizer = template.authorizers[route.authorizer or ""]
    assert (authorizer.issuer_parameter, authorizer.audience_parameter) == ("JwtIssuer", "JwtAudience")
    assert [env_name(p) for p in ("JwtIssuer", "JwtAudience")] == ["JWT_ISSUER", "JWT_AUDIENCE"]
    assert authorizer.header == "authorization"


def test_an_issuer_without_an_audience_is_refused_by_the_templates_rules() -> None:
    document, problems = decode(str(TEMPLATE))
    assert document is not None, problems
    rule = document["Rules"]["UserTokensNeedAnAudience"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::EachMemberEquals": [{"Ref": "JwtAudience"}, ""]}]}
