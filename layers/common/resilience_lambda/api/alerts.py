"""GET /v1/alerts, GET /v1/alerts/{id} and POST /v1/alerts/{id}/acknowledge: alerts, their history, acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from resilience.alert_states import Alert, AlertWithTimeline, State
from resilience.settings import AlertRuleSettings, load
from resilience.silences import Silence, silenced_by
from resilience.store import silences
from resilience.store.alerts import acknowledge, get_alert, list_alerts, timeline
from resilience.store.database import Connection
from resilience.validation import NO_NUL
from resilience_lambda.api.http import ApiError, admin_router, raw_body
from resilience_lambda.api.inputs import parse_body, path_id
from resilience_lambda.api.openapi import Documented, request_body
from resilience_lambda.api.params import ComponentParam
from resilience_lambda.database import database

router = admin_router()

MAX_ALERTS = 1000


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


def _as_of_now(conn: Connection, alerts: list[Alert]) -> list[Alert]:
    """Open alerts marked silenced by the silences and mute times in force now, not at the last evaluation."""
    now = datetime.now(UTC)
    in_force: list[Silence] = silences.in_force(conn, now)
    rules = {rule.name: rule for rule in load(AlertRuleSettings).rules}
    current = []
    for alert in alerts:
        if alert.state is not State.RESOLVED:
            by = silenced_by(rules.get(alert.rule), alert.rule, alert.metric, alert.component, in_force, now)
            alert = alert.model_copy(update={"silenced_by": by})
        current.append(alert)
    return current


@router.get(
    "/v1/alerts",
    summary="List alerts, most recently started first",
    description="An open alert is marked silenced (silenced_by names why) while a silence or mute time covers it.",
    tags=["Alerts"],
)
def get_alerts(
    state: Annotated[State | None, Query(description="pending, firing or resolved; default all")] = None,
    component: ComponentParam = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ALERTS)] = 100,
) -> AlertsOut:
    with database.transaction() as conn:
        alerts = _as_of_now(conn, list_alerts(conn, state, limit, component))
    return AlertsOut(alerts=alerts)


@router.get(
    "/v1/alerts/<id>",
    summary="One alert with its timeline",
    description=(
        "The timeline in the order it was recorded: pending, firing, each notification sent (notified) "
        "or held back by a silence (held), acknowledged (by, note), silenced and unsilenced, resolved."
    ),
    tags=["Alerts"],
    responses={
        200: {
            "description": "The alert and its timeline",
            "content": {"application/json": {"model": AlertWithTimeline}},
        },
        404: {"description": "No alert with this id"},
    },
)
def get_one_alert(id: Annotated[str, Path(max_length=40)]) -> Response[dict[str, Any]]:
    alert_id = path_id(id, "alert")
    with database.transaction() as conn:
        alert = get_alert(conn, alert_id)
        if alert is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no alert {alert_id}", "id")
        [alert] = _as_of_now(conn, [alert])
        events = timeline(conn, alert_id)
    found = AlertWithTimeline(**alert.model_dump(exclude=set(Alert.model_computed_fields)), timeline=events)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, found.model_dump(mode="json"))


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
    alert_id = path_id(id, "alert")
    body = parse_body(AcknowledgeIn, raw_body(router), '{"by": "<who>", "note": "<optional>"}')
    if isinstance(body, Response):
        return body
    with database.transaction() as conn:
        alert = acknowledge(conn, alert_id, body.by, body.note, datetime.now(UTC))
    if alert is None:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no alert {alert_id}", "id")
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, alert.model_dump(mode="json"))
