"""GET /v1/health: liveness and database reachability, without authentication."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from resilience_lambda.api.openapi import Documented
from resilience_lambda.database import database

router = Router()


class HealthOut(Documented):
    status: str
    database: str


@router.get(
    "/v1/health",
    summary="Liveness and database reachability",
    tags=["Health"],
    responses={
        200: {"description": "Healthy", "content": {"application/json": {"model": HealthOut}}},
        503: {"description": "The database does not answer"},
    },
)
def get_health() -> Response[dict[str, str]]:
    if database.ping():
        return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, {"status": "ok", "database": "ok"})
    return Response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        content_types.APPLICATION_JSON,
        {"status": "degraded", "database": "unreachable"},
    )
