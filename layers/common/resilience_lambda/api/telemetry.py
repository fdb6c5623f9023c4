"""GET /v1/telemetry: admins page through raw events, newest first."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from resilience.signals import Signal
from resilience.store.telemetry import MAX_PAGE, EventQuery, query_events
from resilience.telemetry import RecordedEvent
from resilience.validation import NO_NUL
from resilience_lambda.api.http import admin_router
from resilience_lambda.api.openapi import Documented
from resilience_lambda.api.params import ComponentParam, FromParam, ToParam, raw_window
from resilience_lambda.database import database

router = admin_router()


class EventPageOut(Documented):
    events: list[RecordedEvent]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page")


@router.get(
    "/v1/telemetry",
    summary="List raw events, newest first",
    tags=["Telemetry"],
)
def get_telemetry(
    start: FromParam = None,
    end: ToParam = None,
    component: ComponentParam = None,
    signal: Annotated[Signal | None, Query()] = None,
    session_id: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=500, pattern=NO_NUL)] = None,
) -> EventPageOut:
    window = raw_window(start, end)
    query = EventQuery(window, component, signal.value if signal else None, session_id, limit, cursor)
    with database.transaction() as conn:
        page = query_events(conn, query)
    return EventPageOut.model_validate(page, from_attributes=True)
