"""GET /v1/alerts and POST /v1/alerts/{id}/acknowledge: admins see alerts and silence their reminders."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from resilience.alert_states import Alert, State
from resilience.store.alerts import acknowledge, list_alerts
from resilience.validation import NO_NUL, field_error
from resilience_lambda.api.http import ApiError, admin_router, error_response, raw_body
from resilience_lambda.api.openapi import Documented, request_body
from resilience_lambda.database import database

router = admin_router()

MAX_ALERTS = 1000
# Postgres bigint: a larger id cannot exist, and must not reach the query as an overflow error.
MAX_ID = 2**63 - 1


class AlertsOut(Documented):
    alerts: list[Alert]


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=200, description="Who acknowledges")
    note: str | None = Field(None, max_length=2000, pattern=NO_NUL, description="Why")

    @field_validator("by")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise ValueError("must name who acknowledges")
        return value.strip()


@router.get(
    "/v1/alerts",
    summary="List alerts, most recently started first",
    tags=["Alerts"],
)
def get_alerts(
    state: Annotated[State | None, Query(description="pending, firing or resolved; default all")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ALERTS)] = 100,
) -> AlertsOut:
    with database.transaction() as conn:
        alerts = list_alerts(conn, state, limit)
    return AlertsOut(alerts=alerts)


@router.post(
    "/v1/alerts/<id>/acknowledge",
    summary="Acknowledge an alert: no more reminders",
    description=(
        'Body: {"by": "<who>", "note"?: "<text>"}. Acknowledging again is harmless; the first acknowledgement stands.'
    ),
    tags=["Alerts"],
    # The body is read by hand, so the documentation names its model explicitly.
    openapi_extensions={
        "requestBody": request_body(
            AcknowledgeIn, "Who acknowledges, and why", {"by": "Dana (on call)", "note": "Rolling back the deploy"}
        )
    },
    responses={
        200: {"description": "The alert, acknowledged", "content": {"application/json": {"model": Alert}}},
        400: {"description": "A body without by, or with unknown fields"},
        404: {"description": "No alert with this id"},
    },
)
def post_acknowledge(id: Annotated[str, Path(max_length=40)]) -> Response[dict[str, Any]]:
    alert_id = id
    if not alert_id.isdigit() or not 0 < int(alert_id) <= MAX_ID:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no alert {alert_id}", "id")
    body = _acknowledgement(raw_body(router))
    if isinstance(body, Response):
        return body
    with database.transaction() as conn:
        alert = acknowledge(conn, int(alert_id), body.by, body.note, datetime.now(UTC))
    if alert is None:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no alert {alert_id}", "id")
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, alert.model_dump(mode="json"))


def _acknowledgement(raw: bytes) -> AcknowledgeIn | Response:
    """The body, or a 400 naming each field at fault (parsed here so a non-object body says so plainly)."""
    try:
        return AcknowledgeIn.model_validate_json(raw or b"null")
    except ValidationError as exc:
        errors = [
            {"field": "body", "reason": 'must be a JSON object like {"by": "<who>", "note": "<optional>"}'}
            if error["type"] == "model_type"
            else field_error(error, "body")
            for error in exc.errors()
        ]
        message = "invalid request: " + "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return error_response(HTTPStatus.BAD_REQUEST, message, errors)
