"""The API's OpenAPI document made complete: the error answers as sent, the docs page itself, and examples."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, ConfigDict, Field

from resilience_lambda.api.http import USER_SECURITY

if TYPE_CHECKING:  # a heavy import, needed only when the document is built
    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from resilience.alert_states import Alert

JSON = "application/json"
SCHEMAS = "#/components/schemas/"
# What Powertools documents for failed validation; build_resolver answers 400 with ErrorOut instead.
GENERATED_ONLY = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


class Documented(BaseModel):
    """A shape the API answers with, for the document and for the routes that return it.

    Its validator is built on first use: most functions never use most of these, so building them
    all at import only lengthened every cold start.
    """

    model_config = ConfigDict(defer_build=True)


class FieldErrorOut(Documented):
    """A field at fault: of a request (an error answer), or of one event (ingest's rejections)."""

    field: str = Field(description="The parameter or body field at fault", examples=["from", "signal"])
    reason: str = Field(examples=["must be before to", "unknown signal; known signals: optimistic_action_start, ..."])


class ErrorOut(Documented):
    """Every answer other than success."""

    message: str = Field(description="What went wrong, for people")
    errors: list[FieldErrorOut] = Field(default_factory=list, description="Each field at fault, when there are any")


ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": (
        "Invalid parameters or body",
        {"message": "from: must be before to", "errors": [{"field": "from", "reason": "must be before to"}]},
    ),
    "401": (
        "No admin token, or a wrong one",
        {"message": "a valid admin token is required: Authorization: Bearer <token>"},
    ),
    "404": ("Not found", {"message": "no alert 42", "errors": [{"field": "id", "reason": "no alert 42"}]}),
    "413": (
        "Over the size or count limits",
        {"message": "600 events in one request; the limit is 500", "errors": [{"field": "events", "reason": "..."}]},
    ),
    "503": ("The database is unavailable; retry later", {"message": "the database is unavailable; retry later"}),
}
# The routes of signed-in users (USER_SECURITY) are refused for their own reasons.
_SUBJECT = "the token's subject 'auth0|5f7c8ec7c33c6c004bbafe82' is not a UUID"
USER_ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    **ERRORS,
    "401": (
        "No JWT, or one the JWT authorizer refused: bad signature, another issuer or audience, expired",
        {"message": "a valid JWT of the configured issuer is required: Bearer <JWT>"},
    ),
    "403": (
        "A valid JWT whose subject is not a UUID, so no event can be its user's",
        {"message": _SUBJECT + "; ...", "errors": [{"field": "sub", "reason": _SUBJECT + "; ..."}]},
    ),
}

_METRIC = {
    "metric": "rollback_rate",
    "value": 2.5,
    "threshold": 5.0,
    "operator": "gt",
    "status": "healthy",
    "numerator": 12,
    "denominator": 480,
}
_METRICS = [
    _METRIC,
    {
        **_METRIC,
        "metric": "retry_success_rate",
        "value": 91.2,
        "threshold": 80.0,
        "operator": "lt",
        "numerator": 104,
        "denominator": 114,
    },
    {
        **_METRIC,
        "metric": "error_recovery_rate",
        "value": None,
        "threshold": 95.0,
        "operator": "lt",
        "status": "no_data",
        "numerator": 0,
        "denominator": 0,
    },
]
_WINDOW = {"from": "2026-11-25T12:00:00+00:00", "to": "2026-11-26T12:00:00+00:00"}


def _example_alert() -> Alert:
    """A firing alert of a default rule, so the example has the alert's shape and names a rule that exists."""
    # Imported here: IngestFunction imports this module and never builds the document.
    from resilience.alert_states import Alert, State
    from resilience.rules import default_rules

    rule = next(r for r in default_rules() if r.metric == "rollback_rate" and r.per_component)
    at = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
    return Alert(
        id=42,
        rule=rule.name,
        metric=rule.metric,
        component="CheckoutForm",
        state=State.FIRING,
        severity=rule.severity,
        operator=rule.op,
        value=12.5,
        threshold=rule.limit,
        numerator=25,
        denominator=200,
        window_minutes=rule.window_minutes,
        started_at=at - timedelta(minutes=rule.pending_minutes),
        fired_at=at,
        resolved_at=None,
        evaluated_at=at + timedelta(minutes=55),
        last_notified_at=at,
    )


def _event_page(user_id: str | None) -> dict[str, Any]:
    return {
        "events": [
            {
                "id": "0b7f6c1e-8f5d-4f43-9a59-0d6c1b1f2a10",
                "ts": "2026-11-26T11:59:58.120000+00:00",
                "user_id": user_id,
                "session_id": "sess-7f3a",
                "component": "CheckoutForm",
                "signal": "optimistic_action_rollback",
                "data": {"action": "place-order", "reason": "http 409"},
                "received_at": "2026-11-26T11:59:58.480000+00:00",
            }
        ],
        "next_cursor": "WyIyMDI2LTExLTI2VDExOjU5OjU4LjEyKzAwOjAwIiwgIjBiN2Y2YzFlIl0",
    }


@cache
def examples() -> dict[str, dict[str, Any]]:
    """Example answers of routes whose declaration carries none, keyed by "METHOD /path" as in the document.

    Made when the document is, not at import: the alert's model is built on first use.
    """
    alert = _example_alert()
    acknowledged = alert.model_copy(
        update={
            "acknowledged_at": alert.evaluated_at + timedelta(minutes=6),
            "acknowledged_by": "Dana (on call)",
            "acknowledge_note": "Rolling back the 11:00 deploy",
        }
    )
    silence = {
        "id": 3,
        "matchers": {"component": "CheckoutForm", "metric": None, "rule": "rollback_rate_by_component"},
        "starts_at": "2026-11-26T11:10:00+00:00",
        "ends_at": "2026-11-26T12:10:00+00:00",
        "comment": "Known issue, fix deploying",
        "created_by": "Dana (on call)",
        "created_at": "2026-11-26T11:10:00+00:00",
        "label": "silence 3 by Dana (on call)",
    }
    fired = alert.fired_at.isoformat() if alert.fired_at else None
    timeline = [
        {"at": alert.started_at.isoformat(), "kind": "pending", "by": None, "note": None, "detail": None},
        {"at": fired, "kind": "firing", "by": None, "note": None, "detail": None},
        {"at": fired, "kind": "notified", "by": None, "note": None, "detail": "firing notification"},
        {
            "at": acknowledged.acknowledged_at.isoformat() if acknowledged.acknowledged_at else None,
            "kind": "acknowledged",
            "by": acknowledged.acknowledged_by,
            "note": acknowledged.acknowledge_note,
            "detail": None,
        },
    ]
    return {
        "GET /v1/health": {
            "status": "ok",
            "database": "ok",
            "jobs": [
                {
                    "job": "alert_evaluation",
                    "status": "ok",
                    "last_run_at": "2026-11-26T11:55:00.120000+00:00",
                    "schedule": "rate(5 minutes)",
                    "late_after_seconds": 600,
                },
                {
                    "job": "refresh",
                    "status": "late",
                    "last_run_at": "2026-11-26T08:00:01.500000+00:00",
                    "schedule": "rate(1 hour)",
                    "late_after_seconds": 7200,
                },
            ],
        },
        "GET /v1/metrics": {**_WINDOW, "metrics": _METRICS},
        "GET /v1/metrics/series": {
            **_WINDOW,
            "granularity": "hour",
            "series": [
                {
                    "bucket": "2026-11-26T11:00:00+00:00",
                    "component": "CheckoutForm",
                    "signal": "optimistic_action_success",
                    "count": 310,
                    "unique_users": 120,
                    "unique_sessions": 140,
                },
                {
                    "bucket": "2026-11-26T11:00:00+00:00",
                    "component": "CheckoutForm",
                    "signal": "optimistic_action_rollback",
                    "count": 9,
                    "unique_users": 8,
                    "unique_sessions": 9,
                },
            ],
        },
        "GET /v1/components": {
            **_WINDOW,
            "components": [
                {
                    "component": "CheckoutForm",
                    "metrics": [
                        {**_METRIC, "value": 12.5, "status": "alert", "numerator": 25, "denominator": 200},
                        *_METRICS[1:],
                    ],
                    "events": 1250,
                },
                {"component": "ProfileEditor", "metrics": _METRICS, "events": 610},
            ],
        },
        "GET /v1/telemetry": _event_page(user_id=None),
        "GET /v1/me/telemetry": _event_page(user_id="7d1c2e5a-3b4f-4e6a-9c8d-1f2e3a4b5c6d"),
        "POST /v1/telemetry": {
            "accepted": 2,
            "duplicates": 0,
            "rejected": [{"index": 2, "errors": [{"field": "signal", "reason": "unknown signal; known signals: ..."}]}],
        },
        "POST /v1/telemetry 202": {
            "queued": 2,
            "rejected": [{"index": 2, "errors": [{"field": "signal", "reason": "unknown signal; known signals: ..."}]}],
        },
        "GET /v1/alerts": {"alerts": [alert.model_dump(mode="json")]},
        "POST /v1/alerts/{id}/acknowledge": acknowledged.model_dump(mode="json"),
        "GET /v1/alerts/{id}": {**acknowledged.model_dump(mode="json"), "timeline": timeline},
        "GET /v1/silences": {"silences": [silence]},
        "POST /v1/silences": silence,
        "DELETE /v1/silences/{id}": {**silence, "ends_at": "2026-11-26T11:40:00+00:00"},
    }


DOCS_OPERATION: dict[str, Any] = {
    "summary": "This documentation: Swagger UI, or the OpenAPI document itself",
    "operationId": "docs_get",
    "tags": ["Documentation"],
    "parameters": [
        {
            "name": "format",
            "in": "query",
            "required": False,
            "description": "json: the OpenAPI document as JSON instead of the Swagger UI page",
            "schema": {"type": "string", "enum": ["json"]},
        }
    ],
    "responses": {
        "200": {
            "description": "Swagger UI (HTML), or with ?format=json this OpenAPI document",
            "content": {
                "text/html": {"schema": {"type": "string"}, "example": "<!DOCTYPE html>..."},
                JSON: {"schema": {"type": "object"}, "example": {"openapi": "3.1.0", "info": {}, "paths": {}}},
            },
        }
    },
}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its $defs written in place: usable where no component can be declared."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**expand(copy.deepcopy(defs[ref.removeprefix("#/$defs/")])), **expand(rest)}
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return node

    return dict(expand(schema))


# Models of request bodies read by hand, by name: their schemas are written into the document
# when it is built, so that declaring a route costs no schema generation at cold start.
_REQUEST_MODELS: dict[str, type[BaseModel]] = {}
_MODEL_KEY = "x-request-model"


def request_body(model: type[BaseModel], description: str, example: dict[str, Any]) -> dict[str, Any]:
    """The requestBody of a route that reads its body by hand, for its openapi_extensions."""
    _REQUEST_MODELS[model.__name__] = model
    return {
        "required": True,
        "description": description,
        "content": {JSON: {"schema": {_MODEL_KEY: model.__name__}, "example": example}},
    }


def _inline_request_schema(operation: dict[str, Any]) -> None:
    content = operation.get("requestBody", {}).get("content", {}).get(JSON, {})
    name = content.get("schema", {}).get(_MODEL_KEY)
    if name:
        content["schema"] = inline_schema(_REQUEST_MODELS[name])


def _error_response(
    status: str, described: str | None = None, errors: Mapping[str, tuple[str, dict[str, Any]]] = ERRORS
) -> dict[str, Any]:
    description, example = errors.get(status, ("Error", {"message": "..."}))
    return {
        "description": described or description,
        "content": {JSON: {"schema": {"$ref": SCHEMAS + "ErrorOut"}, "example": example}},
    }


def _complete_operation(key: str, operation: dict[str, Any], *, database: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    errors = USER_ERRORS if operation.get("security") == USER_SECURITY else ERRORS
    generated = responses.get("422", {}).get("content", {}).get(JSON, {}).get("schema", {})
    if generated.get("$ref") == SCHEMAS + "HTTPValidationError":
        del responses["422"]
        if operation.get("parameters") or operation.get("requestBody"):
            responses.setdefault("400", _error_response("400", errors=errors))
    if operation.get("security"):
        responses.setdefault("401", _error_response("401", errors=errors))
    if database:
        responses.setdefault("503", _error_response("503", errors=errors))
    for status, response in responses.items():
        # An error answer is an ErrorOut unless a model says otherwise; Powertools would document it
        # as whatever the handler returns on success.
        schema = response.get("content", {}).get(JSON, {}).get("schema", {})
        if not status.startswith("2") and "$ref" not in schema:
            responses[status] = _error_response(status, response.get("description"), errors)
        for media in response.get("content", {}).values():
            if "example" in media or "examples" in media:
                continue
            # A route with more than one success answer keys the others' examples by status too.
            if status.startswith("2") and f"{key} {status}" in examples():
                media["example"] = examples()[f"{key} {status}"]
            elif status.startswith("2") and key in examples():
                media["example"] = examples()[key]
            elif media.get("schema") == {"$ref": SCHEMAS + "ErrorOut"} and status in errors:
                media["example"] = errors[status][1]


def _referenced(document: Any) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(SCHEMAS):
                found.add(ref.removeprefix(SCHEMAS))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found


def complete(document: dict[str, Any], docs_path: str | None) -> dict[str, Any]:
    """Documents the error answers build_resolver really sends, the docs route, and the examples."""
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorOut.model_json_schema(ref_template=SCHEMAS + "{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorOut"] = error_schema
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                key = f"{method.upper()} {path}"
                _inline_request_schema(operation)
                _complete_operation(key, operation, database=path.startswith("/v1/"))
    if docs_path:
        document["paths"][docs_path] = {"get": copy.deepcopy(DOCS_OPERATION)}
    used = _referenced(document["paths"])
    for name in GENERATED_ONLY:
        if name not in used:
            schemas.pop(name, None)
    return document


class DocumentedResolver(APIGatewayHttpResolver):
    """The HTTP API resolver whose OpenAPI document says what the API really answers.

    Its docs route is set up on the first request for it: Powertools' OpenAPI models, which that
    needs, would otherwise be a third of the function's cold start, paid by every admin request.
    """

    docs_path: str | None = None
    _docs_setup: Callable[[DocumentedResolver], None] | None = None

    def docs_on_first_request(self, path: str, setup: Callable[[DocumentedResolver], None]) -> None:
        """`setup` calls enable_swagger(path=path, ...) when `path` is first requested."""
        self.docs_path, self._docs_setup = path, setup

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        setup, path = self._docs_setup, self.docs_path
        if setup is not None and path is not None and str(event.get("rawPath", "")).startswith(path):
            self._docs_setup = None
            setup(self)
        return super().resolve(event, context)

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

        schema = super().get_openapi_schema(**kwargs)
        document = schema.model_dump(by_alias=True, exclude_none=True, mode="json")
        return OpenAPI.model_validate(complete(document, self.docs_path))
