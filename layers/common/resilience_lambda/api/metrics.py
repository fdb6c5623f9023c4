"""GET /v1/metrics, /v1/metrics/series and /v1/components: health rates, history and component health."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from resilience.components import ComponentHealth, rank
from resilience.history import Granularity, SeriesPoint, SeriesTooLarge
from resilience.rates import Rate
from resilience.rules import judging_rules
from resilience.settings import AlertRuleSettings, QueryWindows, load
from resilience.signals import Signal
from resilience.store.counts import series, signal_counts
from resilience.timestamps import Timestamp
from resilience.windows import Window, resolve_window
from resilience_lambda.api.http import ApiError, admin_router
from resilience_lambda.api.openapi import Documented
from resilience_lambda.api.params import ComponentParam, FromParam, ToParam, raw_window
from resilience_lambda.database import reads

router = admin_router()


class WindowOut(Documented):
    from_: Timestamp = Field(alias="from")
    to: Timestamp


class MetricsOut(WindowOut):
    metrics: list[Rate]


class SeriesOut(WindowOut):
    granularity: Granularity
    series: list[SeriesPoint]


class ComponentsOut(WindowOut):
    components: list[ComponentHealth]


def _window_bounds(window: Window) -> dict[str, object]:
    return {"from": window.start, "to": window.end}


@router.get(
    "/v1/metrics",
    summary="The three health rates over a window",
    description=(
        "Closed hours come from the rollups, the rest from raw rows: events ingested a second ago count. "
        "Each status is judged by the active alert rules (ALERT_RULES): for all components by the first rule "
        "over all components of that metric, for one component by the first per-component rule."
    ),
    tags=["Metrics"],
)
def get_metrics(start: FromParam = None, end: ToParam = None, component: ComponentParam = None) -> MetricsOut:
    window = raw_window(start, end)
    judges = judging_rules(load(AlertRuleSettings).rules, per_component=component is not None)
    # One statement, so one snapshot: no transaction around it, and no BEGIN and COMMIT round trips.
    with reads().session() as conn:
        counts = signal_counts(conn, window, component=component)
    metrics = [rule.rate(counts) for rule in judges]
    return MetricsOut.model_validate({**_window_bounds(window), "metrics": metrics})


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
    s = load(QueryWindows)
    days = s.rollup_retention_days if granularity is Granularity.DAY else s.retention_days
    window = resolve_window(start, end, max_span=timedelta(days=days))
    try:
        with reads().session() as conn:
            points = series(conn, window, granularity, component=component, signal=signal.value if signal else None)
    except SeriesTooLarge as exc:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"from: {exc}", "from") from exc
    answer = {**_window_bounds(window), "granularity": granularity, "series": points}
    return SeriesOut.model_validate(answer)


@router.get(
    "/v1/components",
    summary="Health of each component, worst first",
    description="Each component's rates, judged by the active per-component alert rules, and its event count.",
    tags=["Metrics"],
)
def get_components(start: FromParam = None, end: ToParam = None) -> ComponentsOut:
    window = raw_window(start, end)
    rules = load(AlertRuleSettings).rules
    with reads().session() as conn:
        counts = signal_counts(conn, window, by_component=True)
    answer = {**_window_bounds(window), "components": rank(counts, rules)}
    return ComponentsOut.model_validate(answer)
