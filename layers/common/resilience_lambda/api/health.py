"""GET /v1/health: liveness, database reachability and the heartbeats of the scheduled jobs, without authentication."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from resilience.heartbeats import Heartbeat, Job, heartbeats
from resilience.schedules import interval
from resilience.settings import JobSchedules, load
from resilience.store import job_runs
from resilience.store.database import DatabaseUnavailable
from resilience_lambda.api.openapi import Documented
from resilience_lambda.database import database

router = Router()


class HealthOut(Documented):
    status: str
    database: str
    jobs: list[Heartbeat]


def _jobs(now: datetime) -> list[Heartbeat]:
    schedules = load(JobSchedules)
    given = {Job.ALERT_EVALUATION: schedules.alert_evaluation_schedule, Job.REFRESH: schedules.refresh_schedule}
    with database.transaction() as conn:
        last = job_runs.last_runs(conn)
    return heartbeats(last, {job: (expression, interval(expression)) for job, expression in given.items()}, now)


@router.get(
    "/v1/health",
    summary="Liveness, database reachability, and whether the scheduled jobs run on time",
    description=(
        "Each job (alert evaluation, rollup refresh) is late once it has not run for two intervals of its "
        "schedule: then no alert can fire (evaluation) or the history lags (refresh). status is ok when the "
        "database answers and no job is late, late when one is."
    ),
    tags=["Health"],
    responses={
        200: {"description": "The database answers", "content": {"application/json": {"model": HealthOut}}},
        503: {"description": "The database does not answer"},
    },
)
def get_health() -> Response[dict[str, Any]]:
    down = Response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        content_types.APPLICATION_JSON,
        {"status": "degraded", "database": "unreachable"},
    )
    if not database.ping():
        return down
    try:
        jobs = _jobs(datetime.now(UTC))
    except DatabaseUnavailable:
        return down
    late = any(job.status == "late" for job in jobs)
    body = HealthOut(status="late" if late else "ok", database="ok", jobs=jobs)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, body.model_dump(mode="json"))
