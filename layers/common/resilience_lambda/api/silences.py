"""GET/POST /v1/silences and DELETE /v1/silences/{id}: admins silence alerts for a while, and expire silences."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from resilience.silences import Matchers, Silence
from resilience.store import silences
from resilience.windows import CALENDAR, OUT_OF_RANGE, in_calendar
from resilience_lambda.api.http import ApiError, admin_router, raw_body
from resilience_lambda.api.inputs import parse_body, path_id
from resilience_lambda.api.openapi import Documented, request_body
from resilience_lambda.database import database

router = admin_router()

_SHAPE = '{"matchers": {"component": "..."}, "ends_at": "<ISO 8601>", "comment": "...", "by": "<who>"}'


class SilencesOut(Documented):
    silences: list[Silence]


def _said(value: str) -> str:
    if not value.strip() or "\x00" in value:
        raise ValueError("must not be blank")
    return value.strip()


def _in_calendar(value: datetime | None) -> datetime | None:
    if value is not None and not in_calendar(value):
        raise ValueError(OUT_OF_RANGE)
    return value


_TIMES = f"ISO 8601 with offset, {CALENDAR}"


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: Matchers
    starts_at: AwareDatetime | None = Field(None, description=f"Default now; {_TIMES}")
    ends_at: AwareDatetime = Field(description=f"In the future and after starts_at; {_TIMES}")
    comment: str = Field(min_length=1, max_length=2000, description="Why")
    by: str = Field(min_length=1, max_length=200, description="Who silences")

    _not_blank = field_validator("comment", "by")(_said)
    _within_calendar = field_validator("starts_at", "ends_at")(_in_calendar)


@router.get(
    "/v1/silences",
    summary="List silences, ending last first",
    tags=["Silences"],
)
def get_silences(
    active: Annotated[bool | None, Query(description="true: only those in force now; false: only the others")] = None,
) -> SilencesOut:
    with database.transaction() as conn:
        found = silences.list_silences(conn, datetime.now(UTC), active)
    return SilencesOut(silences=found)


@router.post(
    "/v1/silences",
    summary="Silence the alerts matching every given matcher, until ends_at",
    description=(
        "Silenced alerts still change state and are listed, marked silenced, but send nothing; an alert still "
        "firing when the silence ends sends one notification then. Silences may overlap: an alert is silenced "
        "while any of them covers it."
    ),
    tags=["Silences"],
    openapi_extensions={
        "requestBody": request_body(
            SilenceIn,
            "What to silence, until when, why and by whom",
            {
                "matchers": {"component": "CheckoutForm", "rule": "rollback_rate_by_component"},
                "ends_at": "2026-11-26T13:00:00Z",
                "comment": "Known issue, fix deploying",
                "by": "Dana (on call)",
            },
        )
    },
    responses={
        201: {"description": "The silence", "content": {"application/json": {"model": Silence}}},
        400: {"description": "No matcher, an unknown metric, an end in the past or before the start"},
    },
)
def post_silence() -> Response[dict[str, Any]]:
    body = parse_body(SilenceIn, raw_body(router), _SHAPE)
    if isinstance(body, Response):
        return body
    now = datetime.now(UTC)
    starts_at = (body.starts_at or now).astimezone(UTC)
    ends_at = body.ends_at.astimezone(UTC)
    if ends_at <= now:
        raise ApiError(HTTPStatus.BAD_REQUEST, "ends_at: must be in the future", "ends_at")
    if ends_at <= starts_at:
        raise ApiError(HTTPStatus.BAD_REQUEST, "ends_at: must be after starts_at", "ends_at")
    with database.transaction() as conn:
        silence = silences.create(conn, body.matchers, starts_at, ends_at, body.comment, body.by, now)
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, silence.model_dump(mode="json"))


@router.delete(
    "/v1/silences/<id>",
    summary="Expire a silence now",
    description="Its alerts notify again from the next evaluation; one still firing sends one notification then.",
    tags=["Silences"],
    responses={
        200: {"description": "The silence, ended", "content": {"application/json": {"model": Silence}}},
        404: {"description": "No silence with this id"},
    },
)
def delete_silence(id: Annotated[str, Path(max_length=40)]) -> Response[dict[str, Any]]:
    silence_id = path_id(id, "silence")
    with database.transaction() as conn:
        silence = silences.expire(conn, silence_id, datetime.now(UTC))
    if silence is None:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no silence {id}", "id")
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, silence.model_dump(mode="json"))
