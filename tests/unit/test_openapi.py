"""The API documents itself: a valid OpenAPI document listing every route of template.yaml, with examples."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from local.template import load
from resilience.alert_states import Alert, AlertWithTimeline
from resilience.rules import default_rules
from resilience.signals import KNOWN_SIGNALS
from tests.conftest import Api

JSON = "application/json"


@pytest.fixture
def document(api_offline: Api) -> dict[str, Any]:
    answer = api_offline.get("/docs", query={"format": "json"}, token=None)
    assert answer.status == 200
    assert isinstance(answer.body, dict)
    return answer.body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    ]


def schema_check(document: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    """Validates a value against a schema of the document, resolving #/components/... references."""
    root = {**schema, "components": document.get("components", {})}
    return [error.message for error in Draft202012Validator(root).iter_errors(value)]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "Resilience Telemetry API"


def test_the_document_lists_exactly_the_routes_of_template_yaml(document: dict[str, Any]) -> None:
    in_template = {(route.method, route.path) for route in load().routes}
    documented = {(method, path) for method, path, _ in operations(document)}
    assert in_template - documented == set(), "routes of template.yaml missing from the API docs"
    assert documented - in_template == set(), "documented routes API Gateway would not route"


def test_every_success_answer_has_a_schema_and_an_example(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        successes = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        assert successes, f"{method} {path} documents no success answer"
        for status, response in successes.items():
            assert response.get("content"), f"{method} {path} {status} has no content"
            for media_type, media in response["content"].items():
                where = f"{method} {path} {status} {media_type}"
                assert media.get("schema"), f"{where} has no schema"
                assert "example" in media or "examples" in media, f"{where} has no example"
        assert operation.get("summary"), f"{method} {path} has no summary"
        assert operation.get("tags"), f"{method} {path} has no tag"


def test_every_route_that_takes_a_body_documents_it_with_an_example(document: dict[str, Any]) -> None:
    posts = [(path, operation) for method, path, operation in operations(document) if method == "POST"]
    assert posts
    for path, operation in posts:
        body = operation.get("requestBody")
        assert body is not None, f"POST {path} does not document its request body"
        media = body["content"][JSON]
        assert media["schema"], f"POST {path} request body has no schema"
        assert "example" in media, f"POST {path} request body has no example"


def test_every_json_example_matches_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in operations(document):
        media_types = [(f"{status} answer", r.get("content", {})) for status, r in operation["responses"].items()]
        media_types.append(("request body", operation.get("requestBody", {}).get("content", {})))
        for what, content in media_types:
            media = content.get(JSON)
            if media is None or "example" not in media:
                continue
            problems = schema_check(document, media["schema"], media["example"])
            assert problems == [], f"{method} {path} {what}: example does not match the schema: {problems}"
            checked += 1
    assert checked >= 2 * len(operations(document)), "fewer examples than a success and an error per route"


def test_admin_routes_declare_the_bearer_token_and_document_401(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    admin = [(m, p, o) for m, p, o in operations(document) if {"bearerAuth": []} in o.get("security", [])]
    assert {(m, p) for m, p, _ in admin} >= {
        ("GET", "/v1/metrics"),
        ("GET", "/v1/metrics/series"),
        ("GET", "/v1/components"),
        ("GET", "/v1/alerts"),
        ("POST", "/v1/alerts/{id}/acknowledge"),
        ("GET", "/v1/telemetry"),
    }
    for method, path, operation in admin:
        assert "401" in operation["responses"], f"{method} {path} does not document 401"
    tokens = ({"bearerAuth": []}, {"userJwt": []})
    public = {(m, p) for m, p, o in operations(document) if not any(t in o.get("security", []) for t in tokens)}
    assert public == {
        ("POST", "/v1/telemetry"),
        ("GET", "/v1/health"),
        ("GET", "/docs"),
        ("GET", "/dashboard"),
        ("GET", "/dashboard/{name}"),
    }


def test_ingest_documents_its_optional_key_and_token(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    for name, header in (("ingestKey", "X-Ingest-Key"), ("ingestToken", "X-Ingest-Token")):
        assert (schemes[name]["type"], schemes[name]["in"], schemes[name]["name"]) == ("apiKey", "header", header)
    operation = document["paths"]["/v1/telemetry"]["post"]
    # {} first: a deployment without INGEST_KEYS or INGEST_TOKEN_REQUIRED takes requests with neither.
    assert operation["security"] == [{}, {"ingestKey": []}, {"ingestToken": []}, {"ingestKey": [], "ingestToken": []}]
    assert {"401", "403"} <= set(operation["responses"])


def test_the_ingest_body_is_documented_although_it_is_parsed_by_hand(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/telemetry"]["post"]["requestBody"]
    assert body["required"] is True
    media = body["content"][JSON]
    schema = media["schema"]
    assert schema["required"] == ["events"]
    event = schema["properties"]["events"]["items"]
    assert set(event["required"]) == {"session_id", "component", "signal"}
    assert event["properties"]["signal"]["enum"] == list(KNOWN_SIGNALS)
    assert schema_check(document, schema, {"events": [{"session_id": "s", "component": "C", "signal": "bogus"}]})
    not_an_id = {"session_id": "s", "component": "C", "signal": "retry_success", "id": "12345"}
    assert schema_check(document, schema, {"events": [not_an_id]})
    assert not schema_check(document, schema, {"events": [{**not_an_id, "id": str(uuid.uuid4())}]})


def test_documented_errors_are_the_answers_the_api_sends(api_offline: Api, document: dict[str, Any]) -> None:
    responses = document["paths"]["/v1/metrics"]["get"]["responses"]
    assert "422" not in responses, "validation failures are answered with 400, not Powertools' 422"

    bad_window = api_offline.get("/v1/metrics", query={"from": "not a time"})
    assert bad_window.status == 400
    assert schema_check(document, responses["400"]["content"][JSON]["schema"], bad_window.body) == []
    assert bad_window.body["errors"][0]["field"] == "from"

    no_token = api_offline.get("/v1/metrics", token=None)
    assert no_token.status == 401
    assert schema_check(document, responses["401"]["content"][JSON]["schema"], no_token.body) == []


def test_swagger_ui_is_served_without_external_requests(api_offline: Api) -> None:
    page = api_offline.get("/docs", token=None)
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.body
    assert 'src="http' not in page.body
    assert 'href="http' not in page.body


def test_the_docs_route_is_set_up_by_its_first_request_not_at_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from local import triggers
    from local.functions import LambdaContext
    from resilience_lambda.api import ingest
    from resilience_lambda.api.http import build_resolver

    app = build_resolver([ingest.router], docs=True)
    setups: list[str] = []
    enable_swagger = app.enable_swagger

    def counted(**kwargs: Any) -> None:
        setups.append(kwargs["path"])
        enable_swagger(**kwargs)

    monkeypatch.setattr(app, "enable_swagger", counted)
    context = LambdaContext("MetricsQueryFunction")
    other = app.resolve(triggers.http_api("POST", "/v1/telemetry", body="not json"), context)
    assert other["statusCode"] == 400
    assert setups == []
    page = app.resolve(triggers.http_api("GET", "/docs"), context)
    assert page["statusCode"] == 200
    assert "swagger" in page["body"].lower()
    assert app.resolve(triggers.http_api("GET", "/docs", query={"format": "json"}), context)["statusCode"] == 200
    assert setups == ["/docs"]


def test_the_examples_name_rules_that_exist_and_alerts_of_the_alert_shape(document: dict[str, Any]) -> None:
    alerts = [
        alert
        for _, _, operation in operations(document)
        for response in operation["responses"].values()
        for media in response.get("content", {}).values()
        if isinstance(media.get("example"), dict)
        for alert in media["example"].get("alerts", [media["example"]])
        if "rule" in alert
    ]
    assert len(alerts) == 3  # GET /v1/alerts, GET /v1/alerts/{id} and the acknowledgement
    names = {rule.name for rule in default_rules()}
    for alert in alerts:
        assert alert["rule"] in names
        shape = AlertWithTimeline if "timeline" in alert else Alert
        assert shape.model_validate(alert).model_dump(mode="json") == alert


def test_the_users_route_asks_for_a_jwt_not_the_admin_token(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/me/telemetry"]["get"]
    assert operation["security"] == [{"userJwt": []}]
    assert document["components"]["securitySchemes"]["userJwt"]["bearerFormat"] == "JWT"
    refusals = operation["responses"]
    assert "JWT" in refusals["401"]["content"][JSON]["example"]["message"]
    assert refusals["403"]["content"][JSON]["example"]["errors"][0]["field"] == "sub"
    assert {p["name"] for p in operation["parameters"]} == {
        p["name"] for p in document["paths"]["/v1/telemetry"]["get"]["parameters"]
    }
