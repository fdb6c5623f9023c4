"""POST /v1/telemetry: clients report batches of resilience signals."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from resilience.event_messages import EventTooLarge
from resilience.settings import ComponentLimits, IngestLimits, IngestRouting, load
from resilience.store.database import Connection
from resilience.store.known_components import admit
from resilience.store.telemetry import insert_events
from resilience.telemetry import Batch, BatchError, TelemetryEvent, parse_batch
from resilience_lambda.api.http import (
    INGEST_KEY_HEADER,
    INGEST_SECURITY,
    INGEST_TOKEN_HEADER,
    RETRY_AFTER_SECONDS,
    ApiError,
    require_ingest_key,
)
from resilience_lambda.api.http import raw_body as read_body
from resilience_lambda.api.ingest_access import refuse_foreign_origin, require_ingest_token, vouch_for_users
from resilience_lambda.api.openapi import Documented, FieldErrorOut, request_body
from resilience_lambda.database import database
from resilience_lambda.ingest_queue import QueueUnavailable, enqueue
from resilience_lambda.observability import cloudwatch_metrics, logger

router = Router()

# What the documentation states; a deployment may set other limits (MAX_EVENTS_PER_REQUEST, ...).
DEFAULT_LIMITS = IngestLimits()


class Rejection(Documented):
    index: int = Field(description="Position of the event in the request's events list")
    errors: list[FieldErrorOut]


class TelemetryBatchIn(Documented):
    """The request body, for the documentation: parse_batch validates it event by event, not as a whole."""

    events: list[TelemetryEvent] = Field(
        min_length=1,
        max_length=DEFAULT_LIMITS.max_events_per_request,
        description=f"At most {DEFAULT_LIMITS.max_events_per_request} events (by default)",
    )


REQUEST_BODY = request_body(
    TelemetryBatchIn,
    "A batch of signals; each event is validated on its own",
    {
        "events": [
            {
                "id": "0b7f6c1e-8f5d-4f43-9a59-0d6c1b1f2a10",
                "ts": "2026-11-26T11:59:58.120Z",
                "session_id": "sess-7f3a",
                "component": "CheckoutForm",
                "signal": "optimistic_action_rollback",
                "data": {"action": "place-order", "reason": "http 409"},
            },
            {"session_id": "sess-7f3a", "component": "CheckoutForm", "signal": "retry_success"},
        ]
    },
)


class IngestAnswer(Documented):
    accepted: int = Field(description="Events stored by this request")
    duplicates: int = Field(description="Valid events whose id was already stored")
    rejected: list[Rejection]
    message: str | None = Field(None, description="Present when every event was rejected (422)")


class QueuedAnswer(Documented):
    queued: int = Field(description="Valid events now in the ingest queue; the writer stores each id once")
    rejected: list[Rejection]
    message: str | None = Field(None, description="Present when every event was rejected (422)")


@router.post(
    "/v1/telemetry",
    summary="Report resilience signals",
    description=(
        'Body: {"events": [{"id"?, "ts"?, "session_id", "component", "signal", "user_id"?, "data"?}]}. '
        "Each event is validated on its own; valid ones are stored, invalid ones reported by index. "
        "A repeated id is stored once, so retries are safe. With INGEST_MODE=queued (IngestMode) the valid "
        'events are queued for the writer instead, and the answer is 202 {"queued", "rejected"}. Limits (by default): '
        f"{DEFAULT_LIMITS.max_events_per_request} events, {DEFAULT_LIMITS.max_event_bytes // 1024} KiB per event, "
        f"{DEFAULT_LIMITS.max_request_bytes // 1024 // 1024} MiB per request."
    ),
    tags=["Ingest"],
    middlewares=[refuse_foreign_origin, require_ingest_key, require_ingest_token],
    # The body is read by hand (per-event validation), so Powertools cannot derive it from a parameter.
    # The key's scheme is declared by the documented resolver only: written here, the ingest function's
    # own resolver (which has no schemes) would refuse to describe itself.
    openapi_extensions={"requestBody": REQUEST_BODY, "security": INGEST_SECURITY},
    responses={
        200: {
            "description": "Stored (possibly with some events rejected)",
            "content": {"application/json": {"model": IngestAnswer}},
        },
        202: {
            "description": "Queued, with INGEST_MODE=queued (possibly with some events rejected)",
            "content": {"application/json": {"model": QueuedAnswer}},
        },
        400: {"description": "Malformed JSON or a wrong envelope"},
        401: {"description": f"{INGEST_KEY_HEADER} or {INGEST_TOKEN_HEADER} missing or refused, with the reason"},
        403: {"description": "The Origin header names an origin that is not in ALLOWED_ORIGINS"},
        413: {"description": "Over the size or count limits"},
        422: {"description": "Every event was rejected", "content": {"application/json": {"model": IngestAnswer}}},
        503: {"description": "The database (or, queued, the ingest queue) is unavailable; retry after Retry-After"},
    },
)
def post_telemetry() -> Response[dict[str, Any]]:
    try:
        batch = parse_batch(read_body(router), load(IngestLimits))
    except BatchError as exc:
        raise ApiError(exc.status, exc.message, exc.field) from exc
    vouch_for_users(batch)
    routing = load(IngestRouting)
    if routing.queued:
        return _queue(str(routing.ingest_queue_url), batch)
    accepted = duplicates = 0
    if batch.valid:
        with database.session() as conn:
            refused = _refuse_unknown_components(conn, batch)
            if batch.valid:
                result = insert_events(conn, batch.valid)
                accepted, duplicates = result.accepted, result.duplicates
        if refused:
            cloudwatch_metrics.add_metric(name="EventsRejectedComponentLimit", unit=MetricUnit.Count, value=refused)
    cloudwatch_metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=accepted)
    cloudwatch_metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=len(batch.rejected))
    cloudwatch_metrics.add_metric(name="EventsDuplicate", unit=MetricUnit.Count, value=duplicates)
    answer: dict[str, Any] = {"accepted": accepted, "duplicates": duplicates, "rejected": batch.rejected}
    status = HTTPStatus.OK if batch.valid else HTTPStatus.UNPROCESSABLE_ENTITY
    if not batch.valid:
        answer["message"] = "every event was rejected"
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=answer)


def _queue(queue_url: str, batch: Batch) -> Response[dict[str, Any]]:
    """Queued mode: the valid events go to the ingest queue, and 202 says so only once every one is there.

    The component guard needs the database, so the writer applies it, holding back rather than
    dropping the events of new components beyond the limit (README, "Ingest modes").
    """
    if batch.valid:
        try:
            enqueue(queue_url, batch.valid)
        except EventTooLarge as exc:
            where = f"events.{batch.positions[exc.position]}"
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{where}: {exc}", where) from exc
        except QueueUnavailable as exc:
            logger.error("ingest queue unavailable", extra={"error": str(exc)})
            raise ApiError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "the ingest queue is unavailable; send the batch again (with the same ids) later",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from exc
    cloudwatch_metrics.add_metric(name="EventsQueued", unit=MetricUnit.Count, value=len(batch.valid))
    cloudwatch_metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=len(batch.rejected))
    answer: dict[str, Any] = {"queued": len(batch.valid), "rejected": batch.rejected}
    if not batch.valid:
        answer["message"] = "every event was rejected"
        return Response(HTTPStatus.UNPROCESSABLE_ENTITY, content_types.APPLICATION_JSON, answer)
    return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, answer)


def _refuse_unknown_components(conn: Connection, batch: Batch) -> int:
    """Rejects the events of new components beyond the limit, or beyond a request's share; returns how many."""
    limits = load(ComponentLimits)
    admission = admit(
        conn,
        batch.components,
        limits.max_components,
        new_at_most=limits.max_new_components_per_request,
        seen_on=datetime.now(UTC).date(),
    )
    before = len(batch.valid)
    batch.reject_components(
        set(admission.over_limit),
        f"is a new component, and the limit of {limits.max_components} known components is reached (MAX_COMPONENTS); "
        "components unseen for RETENTION_DAYS are forgotten",
    )
    batch.reject_components(
        set(admission.over_request),
        f"is a new component beyond the {limits.max_new_components_per_request} one request may register "
        "(MAX_NEW_COMPONENTS_PER_REQUEST); send it again in a later request",
    )
    return before - len(batch.valid)
