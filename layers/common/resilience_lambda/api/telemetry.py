"""Raw events, newest first: admins page through everyone's, signed-in users through their own."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from resilience.signals import Signal
from resilience.store.telemetry import MAX_PAGE, EventQuery, query_events
from resilience.telemetry import RecordedEvent, SubjectError, owner_of
from resilience.validation import NO_NUL
from resilience_lambda.api.http import USER_SECURITY, ApiError, admin_router, token_subject
from resilience_lambda.api.openapi import Documented, ErrorOut
from resilience_lambda.api.params import ComponentParam, FromParam, ToParam, raw_window
from resilience_lambda.database import reads

router = admin_router()
# Not an admin router: API Gateway's JWT authorizer guards its route, and the admin token opens nothing here.
user_router = Router()


class EventPageOut(Documented):
    events: list[RecordedEvent]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page")


def _events_route(route: Callable[..., Any], whose: Callable[[], str | None]) -> None:
    """Declares a read of raw events, its filters and paging; whose() names the only user_id it may show, or None."""

    @route
    def read_events(
        start: FromParam = None,
        end: ToParam = None,
        component: ComponentParam = None,
        signal: Annotated[Signal | None, Query()] = None,
        session_id: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(max_length=500, pattern=NO_NUL)] = None,
    ) -> EventPageOut:
        # Before the window is resolved or anything read: a refused caller learns nothing of the data.
        user_id = whose()
        window = raw_window(start, end)
        query = EventQuery(window, component, signal.value if signal else None, session_id, limit, cursor, user_id)
        with reads().transaction() as conn:
            page = query_events(conn, query)
        return EventPageOut.model_validate(page, from_attributes=True)


def _everyones() -> None:
    return None


def _callers() -> str:
    """The user_id of the caller: the subject of their verified token."""
    try:
        return owner_of(token_subject(user_router))
    except SubjectError as exc:
        raise ApiError(HTTPStatus.FORBIDDEN, str(exc), field="sub") from exc


_events_route(
    router.get(
        "/v1/telemetry",
        summary="List raw events, newest first",
        tags=["Telemetry"],
        operation_id="get_telemetry_v1_telemetry_get",
    ),
    _everyones,
)

_events_route(
    user_router.get(
        "/v1/me/telemetry",
        summary="List your own events, newest first",
        description=(
            "The events whose user_id is the subject (sub) of your JWT, with the filters and paging of "
            "GET /v1/telemetry. Send `Authorization: Bearer <JWT>` from the identity provider the API trusts."
        ),
        tags=["Telemetry"],
        security=USER_SECURITY,
        operation_id="get_own_telemetry_v1_me_telemetry_get",
        responses={
            HTTPStatus.OK: {"description": "Your events", "content": {"application/json": {"model": EventPageOut}}},
            # Its example and those of the other refusals: openapi.USER_ERRORS.
            HTTPStatus.FORBIDDEN: {
                "description": "A valid JWT whose subject is not a UUID",
                "content": {"application/json": {"model": ErrorOut}},
            },
        },
    ),
    _callers,
)
