"""template.yaml is the one list of functions, routes and schedules: code and template agree, and it builds."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from local import functions, triggers
from local.template import ROOT, Route, Template, env_name
from resilience_lambda.api.http import security_schemes
from tests.conftest import SAM_BIN, TOOL_ENV


def shape(path: str) -> str:
    """A route's path with its parameters unnamed: /v1/alerts/<alert_id>/x and /v1/alerts/{id}/x match."""
    return re.sub(r"<\w+>|\{\w+\}", "{}", path)


def served_routes(template: Template, logical_id: str) -> set[tuple[str, str]]:
    """The routes a function's resolver serves, as its own OpenAPI document lists them."""
    fn = template.functions[logical_id]
    app = functions.module(fn).app
    docs_path = getattr(app, "docs_path", None)
    if docs_path:
        # The function serves its document; the docs route is set up by that first request.
        answer = functions.invoke(fn, triggers.http_api("GET", docs_path, query={"format": "json"}))
        assert answer["statusCode"] == 200
        document = json.loads(answer["body"])
    else:
        # A function without the docs route has not loaded the security schemes its routes name.
        document = json.loads(app.get_openapi_json_schema(security_schemes=security_schemes()))
    return {
        (method.upper(), shape(path))
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def declared_routes(routes: list[Route]) -> set[tuple[str, str]]:
    return {(r.method, shape(r.path)) for r in routes}


def http_functions(template: Template) -> list[str]:
    return [fn.logical_id for fn in template.functions.values() if fn.routes]


def test_every_function_has_its_folder_handler_and_a_sample_event(template: Template) -> None:
    for fn in template.functions.values():
        assert (fn.code_uri / "app.py").is_file(), fn.logical_id
        prefix = fn.code_uri.name.replace("_", "-")
        samples = list((ROOT / "events").glob(f"{prefix}*.json"))
        assert samples, f"events/ has no sample event for {fn.logical_id} ({prefix}*.json)"


def test_each_function_serves_the_routes_the_template_sends_it(lambda_env: dict[str, str], template: Template) -> None:
    for logical_id in http_functions(template):
        declared = declared_routes(template.functions[logical_id].routes)
        missing = declared - served_routes(template, logical_id)
        assert not missing, f"{logical_id} does not serve {missing}"


def test_every_route_in_the_code_is_routed_by_the_template(lambda_env: dict[str, str], template: Template) -> None:
    declared = declared_routes(template.routes)
    for logical_id in http_functions(template):
        extra = served_routes(template, logical_id) - declared
        assert not extra, f"{logical_id} serves {extra}, which template.yaml routes nowhere"


def test_ingest_is_its_own_small_function(lambda_env: dict[str, str], template: Template) -> None:
    assert served_routes(template, "IngestFunction") == {("POST", "/v1/telemetry")}


def test_parameters_reach_the_functions_under_their_upper_snake_case_names(template: Template) -> None:
    for fn in template.functions.values():
        for name, value in fn.environment.items():
            if isinstance(value, dict) and "Ref" in value and value["Ref"] in template.parameters:
                assert name == env_name(value["Ref"]), f"{fn.logical_id}: {name} carries {value['Ref']}"


def test_the_layer_is_built_for_lambda_and_shared_by_every_function(template: Template) -> None:
    layer = template.resources["CommonLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    for fn in template.functions.values():
        assert template.resources[fn.logical_id]["Properties"].get("Layers", "global") == "global", fn.logical_id


def test_no_secret_in_the_templates_plain_text() -> None:
    text = (ROOT / "template.yaml").read_text()
    assert not re.search(r"hooks\.slack\.com|postgres(ql)?://\S+:\S+@|xox[bap]-", text)


def sam_tool(name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Runs a tool of the SAM toolchain's environment on template.yaml's folder."""
    return subprocess.run(
        [SAM_BIN / name, *arguments], cwd=ROOT, env=TOOL_ENV, capture_output=True, text=True, check=False
    )


def test_cfn_lint_passes_with_its_informational_checks() -> None:
    result = sam_tool("cfn-lint", "template.yaml", "--include-checks", "I")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes() -> None:
    result = sam_tool("sam", "validate", "--lint", "--language-extensions")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    result = subprocess.run(
        [SAM_BIN / "sam", "build", "--language-extensions", "--build-dir", str(build_dir)],
        cwd=ROOT,
        env=TOOL_ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build_dir


def test_sam_build_makes_an_arm64_python313_layer_with_the_migrations(built: Path, template: Template) -> None:
    site = built / "CommonLayer" / "python"
    assert list(site.glob("pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so"))
    assert list(site.glob("psycopg_binary/*.cpython-313-aarch64-linux-gnu.so"))
    assert {p.name for p in (site / "resilience" / "sql").glob("*.sql")} == {
        p.name for p in (ROOT / "migrations").glob("*.sql")
    }
    assert list((site / "resilience" / "__pycache__").glob("*.cpython-313.pyc"))
    assert not (site / "boto3").exists()
    assert not (site / "botocore").exists()
    for fn in template.functions.values():
        assert (built / fn.logical_id / "app.py").is_file()


def test_the_template_wires_alert_topic_email_subscriptions_and_the_publish_permission(template: Template) -> None:
    resources = template.resources
    assert resources["AlertTopic"]["Type"] == "AWS::SNS::Topic"
    name, collection, body = resources["Fn::ForEach::AlertEmailSubscriptions"]
    assert (name, collection) == ("Email", {"Ref": "AlertEmails"})
    [subscription] = body.values()
    assert subscription["Type"] == "AWS::SNS::Subscription"
    # AlertEmails defaults to empty: the condition keeps that single empty item from being created.
    assert subscription["Condition"] == "HasAlertEmails"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlertTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "Email"},
    }
    assert template.parameters["AlertEmails"]["Type"] == "CommaDelimitedList"

    evaluation = resources["AlertEvaluationFunction"]["Properties"]
    assert {"SNSPublishMessagePolicy": {"TopicName": {"Fn::GetAtt": ["AlertTopic", "TopicName"]}}} in evaluation[
        "Policies"
    ]
    assert evaluation["Environment"]["Variables"]["ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}
    [schedule] = template.functions["AlertEvaluationFunction"].schedules
    assert schedule.expression == {"Ref": "AlertEvaluationSchedule"}
    assert template.parameters["AlertEvaluationSchedule"]["Default"] == "rate(5 minutes)"


def test_the_template_subscribes_it_to_alert_topic_with_a_dead_letter_queue(template: Template) -> None:
    props = template.resources["SlackNotifierFunction"]["Properties"]
    assert template.functions["SlackNotifierFunction"].topics == ["AlertTopic"]
    assert props["DeadLetterQueue"]["Type"] == "SQS"
    assert props["DeadLetterQueue"]["TargetArn"] == {"Fn::GetAtt": ["SlackNotifierDeadLetters", "Arn"]}
    assert props["EventInvokeConfig"]["MaximumRetryAttempts"] == 2
    # The webhook URL never appears in the template: only the secret's ARN does.
    assert props["Environment"]["Variables"] == {"SLACK_WEBHOOK_SECRET_ARN": {"Ref": "SlackWebhookSecretArn"}}


def own_variables(template: Template, logical_id: str) -> set[str]:
    """The variables a function's own Environment sets (the rest come from Globals)."""
    return set(template.resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {}))


def test_each_function_is_given_the_settings_its_configuration_declares(
    lambda_env: dict[str, str], template: Template
) -> None:
    set_somewhere = {name for fn in template.functions.values() for name in fn.environment}
    set_somewhere |= {env_name(parameter) for parameter in template.parameters}
    read_somewhere: set[str] = set()
    for fn in template.functions.values():
        configuration = functions.module(fn).configuration
        given = set(fn.environment)
        read_somewhere |= set(configuration.variables)
        for alternatives in configuration.required:
            assert given & set(alternatives), f"{fn.logical_id} needs one of {alternatives}; the template sets none"
        for name in configuration.variables:
            # A tunable of the template must reach every function that reads it, or it changes nothing there.
            assert name not in set_somewhere or name in given, f"template.yaml does not pass {name} to {fn.logical_id}"
        unread = own_variables(template, fn.logical_id) - set(configuration.variables)
        assert not unread, f"{fn.logical_id} is given {unread}, which its configuration does not read"
    globals_unread = {
        name
        for fn in template.functions.values()
        for name in set(fn.environment) - own_variables(template, fn.logical_id)
        if not name.startswith("POWERTOOLS_") and name not in read_somewhere
    }
    assert not globals_unread, f"Globals pass {globals_unread}, which no function reads"


# Names AWS caps, that the template builds from the stack's name: resource type, property, longest.
NAME_LIMITS = {
    ("AWS::RDS::DBProxy", "DBProxyName"): 63,
    ("AWS::Serverless::LayerVersion", "LayerName"): 140,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
}
STACK_NAME_LIMIT = 128


def test_deploy_md_states_the_longest_stack_name_the_derived_names_allow(template: Template) -> None:
    allowed = {"the stack": STACK_NAME_LIMIT}
    for logical_id, resource in template.resources.items():
        for (kind, prop), limit in NAME_LIMITS.items():
            if isinstance(resource, dict) and resource["Type"] == kind:
                value = resource["Properties"][prop]
                text = value.get("Fn::Sub") or ("${AWS::StackName}" if value == {"Ref": "AWS::StackName"} else "")
                assert "${AWS::StackName}" in text, (logical_id, value)
                allowed[logical_id] = limit - len(text.replace("${AWS::StackName}", ""))
    longest = min(allowed.values())
    assert longest == allowed["DatabaseProxy"], allowed
    deploy = (ROOT / "docs" / "DEPLOY.md").read_text()
    assert f"at most {longest} characters" in deploy
    config = (ROOT / "samconfig.toml").read_text()
    for name in re.findall(r'stack_name = "([^"]+)"', config):
        assert len(name) <= longest, name
