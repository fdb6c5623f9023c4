"""GET /v1/metrics, /v1/metrics/series and /v1/components through MetricsQueryFunction, and RefreshFunction."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from resilience import settings
from tests.conftest import ROOT, Api, signal_event

METRIC_FIELDS = {"metric", "value", "threshold", "operator", "status", "numerator", "denominator"}


def iso(t: datetime) -> str:
    return t.isoformat()


def post(api: Api, *events: dict[str, Any]) -> None:
    answer = api.post("/v1/telemetry", {"events": list(events)}, token=None)
    assert answer.status == 200, answer.body


def refresh(invoke: Callable[[str, dict[str, Any]], Any]) -> dict[str, Any]:
    event = json.loads(Path(ROOT / "events" / "refresh.json").read_text())
    return invoke("RefreshFunction", event)  # type: ignore[no-any-return]


def test_metrics_gives_the_three_rates_with_what_they_were_computed_from(api: Api) -> None:
    post(api, *[signal_event("retry_success") for _ in range(9)], signal_event("retry_failure"))
    answer = api.get("/v1/metrics")
    assert answer.status == 200
    assert set(answer.body) == {"from", "to", "metrics"}
    assert datetime.fromisoformat(answer.body["to"]) - datetime.fromisoformat(answer.body["from"]) == timedelta(
        hours=24
    )
    metrics = {m["metric"]: m for m in answer.body["metrics"]}
    assert list(metrics) == ["rollback_rate", "retry_success_rate", "error_recovery_rate"]
    assert all(set(m) == METRIC_FIELDS for m in metrics.values())
    assert metrics["retry_success_rate"] == {
        "metric": "retry_success_rate",
        "value": 90.0,
        "threshold": 80.0,
        "operator": "lt",
        "status": "healthy",
        "numerator": 9,
        "denominator": 10,
    }
    assert metrics["rollback_rate"]["status"] == "no_data"
    assert metrics["rollback_rate"]["value"] is None


def test_metrics_include_an_event_ingested_a_second_ago_after_a_refresh(
    api: Api, invoke: Callable[[str, dict[str, Any]], Any]
) -> None:
    post(api, *[signal_event("retry_success") for _ in range(10)])
    assert refresh(invoke)["hours"] >= 1
    post(api, signal_event("retry_failure", ts=iso(datetime.now(UTC) - timedelta(seconds=1))))
    metrics = {m["metric"]: m for m in api.get("/v1/metrics").body["metrics"]}
    assert (metrics["retry_success_rate"]["numerator"], metrics["retry_success_rate"]["denominator"]) == (10, 11)


def test_metrics_for_one_component(api: Api) -> None:
    post(api, *[signal_event("retry_failure", "A") for _ in range(10)], signal_event("retry_success", "B"))
    body = api.get("/v1/metrics", query={"component": "A"}).body
    retry = next(m for m in body["metrics"] if m["metric"] == "retry_success_rate")
    assert (retry["value"], retry["status"], retry["denominator"]) == (0.0, "alert", 10)


def test_components_lists_each_component_worst_first(api: Api) -> None:
    post(
        api,
        *[signal_event("retry_success", "Fine") for _ in range(10)],
        *[signal_event("retry_failure", "Broken") for _ in range(10)],
        signal_event("optimistic_action_start", "Idle"),
    )
    answer = api.get("/v1/components")
    assert answer.status == 200
    found = answer.body["components"]
    assert [c["component"] for c in found] == ["Broken", "Fine", "Idle"]
    assert [c["events"] for c in found] == [10, 10, 1]
    assert all(set(m) == METRIC_FIELDS for c in found for m in c["metrics"])
    assert {m["status"] for m in found[0]["metrics"]} == {"alert", "no_data"}


def test_statuses_follow_the_active_alert_rules_not_the_default_thresholds(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = [
        {"name": "retries", "metric": "retry_success_rate", "threshold": 95, "min_samples": 5},
        {"name": "retries_by_component", "metric": "retry_success_rate", "threshold": 50, "per_component": True},
    ]
    monkeypatch.setenv("ALERT_RULES", json.dumps(rules))
    settings.reload()
    post(api, *[signal_event("retry_success", "A") for _ in range(9)], signal_event("retry_failure", "A"))

    overall = {m["metric"]: m for m in api.get("/v1/metrics").body["metrics"]}
    assert (overall["retry_success_rate"]["threshold"], overall["retry_success_rate"]["status"]) == (95.0, "alert")
    # A metric no rule watches keeps its own threshold.
    assert overall["rollback_rate"]["threshold"] == 5.0
    one = {m["metric"]: m for m in api.get("/v1/metrics", query={"component": "A"}).body["metrics"]}
    assert (one["retry_success_rate"]["threshold"], one["retry_success_rate"]["status"]) == (50.0, "healthy")
    [component] = api.get("/v1/components").body["components"]
    judged = {m["metric"]: m for m in component["metrics"]}
    assert (judged["retry_success_rate"]["threshold"], judged["retry_success_rate"]["status"]) == (50.0, "healthy")


def test_series_by_hour_and_by_day(api: Api, invoke: Callable[[str, dict[str, Any]], Any]) -> None:
    t = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    post(
        api,
        signal_event("retry_success", ts=iso(t + timedelta(minutes=5)), session_id="s1"),
        signal_event("retry_success", ts=iso(t + timedelta(minutes=6)), session_id="s2"),
        signal_event("retry_failure", ts=iso(t + timedelta(hours=1, minutes=5)), session_id="s1"),
    )
    refresh(invoke)
    hourly = api.get("/v1/metrics/series", query={"granularity": "hour", "from": iso(t - timedelta(hours=1))})
    assert hourly.status == 200
    assert hourly.body["granularity"] == "hour"
    assert [(p["bucket"], p["signal"], p["count"], p["unique_sessions"]) for p in hourly.body["series"]] == [
        (iso(t), "retry_success", 2, 2),
        (iso(t + timedelta(hours=1)), "retry_failure", 1, 1),
    ]
    daily = api.get("/v1/metrics/series", query={"granularity": "day", "signal": "retry_success"})
    assert [(p["count"], p["unique_sessions"], p["unique_users"]) for p in daily.body["series"]] == [(2, 2, 0)]


def test_series_defaults_to_hours(api: Api) -> None:
    post(api, signal_event("retry_success"))
    answer = api.get("/v1/metrics/series")
    assert answer.status == 200
    assert answer.body["granularity"] == "hour"
    assert [p["count"] for p in answer.body["series"]] == [1]


def test_a_daily_series_may_reach_back_further_than_raw_retention(api: Api) -> None:
    start = datetime.now(UTC) - timedelta(days=200)
    assert api.get("/v1/metrics/series", query={"granularity": "day", "from": iso(start)}).status == 200
    hourly = api.get("/v1/metrics/series", query={"granularity": "hour", "from": iso(start)})
    assert hourly.status == 400
    assert hourly.body["errors"][0]["field"] == "from"


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/v1/metrics", {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ("/v1/metrics", {"from": "2020-01-01T00:00:00Z"}, "from"),
        ("/v1/metrics", {"from": "yesterday"}, "from"),
        ("/v1/metrics", {"to": "2026-01-01T00:00:00"}, "to"),
        ("/v1/metrics", {"component": ""}, "component"),
        ("/v1/metrics", {"component": "x" * 201}, "component"),
        ("/v1/components", {"from": "2026-01-02T00:00:00Z", "to": "2026-01-02T00:00:00Z"}, "from"),
        ("/v1/components", {"from": "2000-01-01T00:00:00Z"}, "from"),
        ("/v1/metrics/series", {"granularity": "week"}, "granularity"),
        ("/v1/metrics/series", {"signal": "page_view"}, "signal"),
        ("/v1/metrics/series", {"granularity": "day", "from": "2000-01-01T00:00:00Z"}, "from"),
        ("/v1/metrics/series", {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(api: Api, path: str, query: dict[str, str], field: str) -> None:
    answer = api.get(path, query=query)
    assert answer.status == 400, answer.body
    assert isinstance(answer.body["message"], str)
    assert answer.body["message"]
    assert [e["field"] for e in answer.body["errors"]] == [field]


@pytest.mark.parametrize("path", ["/v1/metrics", "/v1/metrics/series", "/v1/components"])
def test_every_metrics_route_needs_the_admin_token(api: Api, path: str) -> None:
    assert api.get(path, token=None).status == 401
    assert api.get(path, token="wrong").status == 401


def test_refresh_function_rolls_up_what_was_ingested(api: Api, invoke: Callable[[str, dict[str, Any]], Any]) -> None:
    post(api, signal_event("retry_success"), signal_event("retry_failure", "Other"))
    counts = {"hours": 1, "days": 1, "hourly_rows": 2, "daily_rows": 2}
    result = refresh(invoke)
    assert {k: result[k] for k in counts} == counts
    again = refresh(invoke)
    assert {k: again[k] for k in counts} == {"hours": 0, "days": 0, "hourly_rows": 0, "daily_rows": 0}


def test_refresh_function_creates_missing_partitions_ahead(
    invoke: Callable[[str, dict[str, Any]], Any], db: psycopg.Connection
) -> None:
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    name = db.execute("SELECT resilience_partition_name(%s)", (day,)).fetchone()[0]  # type: ignore[index]
    db.execute(f'DROP TABLE IF EXISTS "{name}"')
    result = refresh(invoke)
    assert name in result["partitions_created"]
    assert db.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None  # type: ignore[index]
