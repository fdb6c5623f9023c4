"""GET /v1/metrics, /v1/metrics/series and /v1/components: health rates, history and component health."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from resilience.metrics import Granularity, SeriesTooLarge, component_health, health, series
from resilience.settings import settings
from resilience.signals import Signal
from resilience.windows import Window, resolve_window
from resilience_lambda.api.http import ApiError, admin_router
from resilience_lambda.api.openapi import Documented
from resilience_lambda.api.params import ComponentParam, FromParam, ToParam, raw_window
from resilience_lambda.database import database

router = admin_router()


class MetricOut(Documented):
    metric: str = Field(examples=["rollback_rate"])
    value: float | None = Field(description="Percent; null when there is nothing to divide by")
    threshold: float
    operator: str = Field(description="gt: alert above the threshold; lt: alert below it")
    status: str = Field(description="healthy, alert or no_data (fewer samples than the minimum)")
    numerator: int
    denominator: int


class MetricsOut(Documented):
    from_: str = Field(alias="from")
    to: str
    metrics: list[MetricOut]


class SeriesPointOut(Documented):
    bucket: str
    component: str
    signal: str
    count: int
    unique_users: int
    unique_sessions: int


class SeriesOut(Documented):
    from_: str = Field(alias="from")
    to: str
    granularity: str
    series: list[SeriesPointOut]


class ComponentOut(Documented):
    component: str
    metrics: list[MetricOut]
    events: int


class ComponentsOut(Documented):
    from_: str = Field(alias="from")
    to: str
    components: list[ComponentOut]


def _window_bounds(window: Window) -> dict[str, str]:
    return {"from": window.start.isoformat(), "to": window.end.isoformat()}


@router.get(
    "/v1/metrics",
    summary="The three health rates over a window",
    description="Closed hours come from the rollups, the rest from raw rows: events ingested a second ago count.",
    tags=["Metrics"],
)
def get_metrics(start: FromParam = None, end: ToParam = None, component: ComponentParam = None) -> MetricsOut:
    window = raw_window(start, end)
    with database.transaction() as conn:
        rates = health(conn, window, component)
    return MetricsOut.model_validate({**_window_bounds(window), "metrics": [r.as_dict() for r in rates]})


@router.get(
    "/v1/metrics/series",
    summary="Signal counts per hour or day",
    description=(
        "Whole buckets overlapping the window, oldest first. Hourly series reach back as far as raw events "
        "are kept; daily ones as far as the daily rollups are kept."
    ),
    tags=["Metrics"],
)
def get_series(
    granularity: Annotated[Granularity, Query(description="hour or day")] = Granularity.HOUR,
    start: FromParam = None,
    end: ToParam = None,
    component: ComponentParam = None,
    signal: Annotated[Signal | None, Query(description="Only this signal")] = None,
) -> SeriesOut:
    s = settings()
    days = s.rollup_retention_days if granularity is Granularity.DAY else s.retention_days
    window = resolve_window(start, end, max_span=timedelta(days=days))
    try:
        with database.transaction() as conn:
            points = series(conn, window, granularity, component=component, signal=signal.value if signal else None)
    except SeriesTooLarge as exc:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"from: {exc}", "from") from exc
    return SeriesOut.model_validate({**_window_bounds(window), "granularity": granularity.value, "series": points})


@router.get(
    "/v1/components",
    summary="Health of each component, worst first",
    tags=["Metrics"],
)
def get_components(start: FromParam = None, end: ToParam = None) -> ComponentsOut:
    window = raw_window(start, end)
    with database.transaction() as conn:
        found = component_health(conn, window)
    return ComponentsOut.model_validate({**_window_bounds(window), "components": [c.as_dict() for c in found]})
