"""The service's own health reaches CloudWatch as embedded metrics: what the alarms and dashboard read is emitted."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local import triggers
from local.template import Template
from resilience.rates import RATES
from resilience_lambda.health_metrics import HEARTBEAT, ROLLUP_LAG
from tests.conftest import Api, emf_documents, signal_event

Invoke = Callable[[str, dict[str, Any]], Any]
SERVICE = "resilience-telemetry"


@pytest.fixture
def published(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[[], list[dict[str, Any]]]:
    """Metrics switched on, as in Lambda; returns a reader of the EMF documents printed since the last read."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()

    def read() -> list[dict[str, Any]]:
        return emf_documents(capsys.readouterr().out)

    return read


def values(documents: list[dict[str, Any]], name: str, **dimensions: str) -> list[float]:
    """The values of one metric in the documents whose dimensions are exactly the service's plus these."""
    wanted = {"service": SERVICE, **dimensions}
    found = []
    for doc in documents:
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        if directive["Namespace"] != "ResilienceTelemetry" or set(directive["Dimensions"][0]) != set(wanted):
            continue
        if all(doc.get(k) == v for k, v in wanted.items()) and name in doc:
            value = doc[name]
            found.extend(value if isinstance(value, list) else [value])
    return found


def traffic(api: Api) -> None:
    """Checkout rolls back 1 in 5 of 25 actions; Search's 19 recoveries of 19 errors; Profile's 3 retries."""
    batch = [signal_event("optimistic_action_success", "Checkout") for _ in range(20)]
    batch += [signal_event("optimistic_action_rollback", "Checkout") for _ in range(5)]
    batch += [signal_event("error_boundary_triggered", "Search") for _ in range(10)]
    batch += [signal_event("error_boundary_recovered", "Search") for _ in range(9)]
    batch += [signal_event("retry_success", "Profile") for _ in range(2)] + [signal_event("retry_failure", "Profile")]
    assert api.post("/v1/telemetry", {"events": batch}).status == 200


def test_each_evaluation_publishes_a_heartbeat_and_the_rates_with_enough_samples(
    api: Api, invoke: Invoke, published: Callable[[], list[dict[str, Any]]]
) -> None:
    traffic(api)
    published()
    invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    documents = published()
    assert values(documents, HEARTBEAT) == [1]
    # All components: 5 rollbacks of 25 endings; 9 recoveries of 10 errors; 3 retries are too few.
    assert values(documents, "rollback_rate") == [20.0]
    assert values(documents, "error_recovery_rate") == [90.0]
    assert values(documents, "retry_success_rate") == []
    assert values(documents, "rollback_rate", component="Checkout") == [20.0]
    assert values(documents, "error_recovery_rate", component="Search") == [90.0]
    assert values(documents, "retry_success_rate", component="Profile") == []


def test_only_the_busiest_components_get_metrics_of_their_own(
    api: Api, invoke: Invoke, published: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    monkeypatch.setenv("METRICS_COMPONENT_LIMIT", "1")
    settings.reload()
    traffic(api)
    published()
    invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    documents = published()
    per_component = {doc["component"] for doc in documents if "component" in doc}
    assert per_component == {"Checkout"}
    assert values(documents, "error_recovery_rate") == [90.0]


def test_the_refresh_publishes_how_long_the_oldest_waiting_hour_has_been_closed(
    api: Api, invoke: Invoke, published: Callable[[], list[dict[str, Any]]]
) -> None:
    three_hours_ago = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    late = [signal_event("retry_success", "Checkout", ts=three_hours_ago) for _ in range(3)]
    assert api.post("/v1/telemetry", {"events": late}).status == 200
    published()
    invoke("RefreshFunction", triggers.scheduled("RefreshSchedule"))
    (lag,) = values(published(), ROLLUP_LAG)
    # Its hour started at most 4 h ago and ended at least 2 h ago.
    assert 2 * 3600 <= lag < 3 * 3600
    invoke("RefreshFunction", triggers.scheduled("RefreshSchedule"))
    assert values(published(), ROLLUP_LAG) == [0.0]


def template_metric_names(template: Template) -> set[str]:
    """ResilienceTelemetry metrics that template.yaml's alarms and dashboard read."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Namespace") == "ResilienceTelemetry" and "MetricName" in node:
                names.add(node["MetricName"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            names.update(re.findall(r'"ResilienceTelemetry", "(\w+)"', node))
            names.update(re.findall(r'MetricName=\\"(\w+)\\"', node))

    walk(template.resources)
    return names


def test_every_metric_the_alarms_and_dashboard_read_is_emitted(
    api: Api, invoke: Invoke, published: Callable[[], list[dict[str, Any]]], template: Template,
    ingest_queues: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from resilience import settings

    traffic(api)
    retries = [signal_event("retry_success", "Profile") for _ in range(10)]
    api.post("/v1/telemetry", {"events": [*retries, {"component": "X", "signal": "nope", "session_id": "s"}]})
    # Queued ingest counts what it queued.
    monkeypatch.setenv("INGEST_MODE", "queued")
    settings.reload()
    assert api.post("/v1/telemetry", {"events": [signal_event("retry_success", "Profile")]}).status == 202
    invoke("RefreshFunction", triggers.scheduled("RefreshSchedule"))
    invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    emitted = {name for doc in published() for name in doc if not name.startswith("_")} - {"service", "component"}
    read = template_metric_names(template)
    assert read >= {HEARTBEAT, ROLLUP_LAG, "EventsAccepted"} | {rate.metric for rate in RATES}
    assert read <= emitted, f"the template reads metrics nothing emits: {read - emitted}"


def test_notifications_held_back_by_a_silence_are_counted(
    api: Api, invoke: Invoke, published: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience import settings

    rule = {"name": "checkout", "metric": "rollback_rate", "per_component": True, "pending_minutes": 0}
    monkeypatch.setenv("ALERT_RULES", json.dumps([rule]))
    settings.reload()
    traffic(api)
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"matchers": {"component": "Checkout"}, "ends_at": ends, "comment": "known", "by": "ana"}
    assert api.post("/v1/silences", body).status == 201
    published()
    result = invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    assert (result["notifications"], result["held"]) == (0, 1)
    documents = published()
    assert values(documents, "AlertNotificationsHeld") == [1]
    assert values(documents, "AlertNotificationsQueued") == [0]
