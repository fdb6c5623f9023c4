"""GET /v1/alerts and POST /v1/alerts/{id}/acknowledge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from resilience.jobs.evaluation import evaluate
from resilience.rules import Rule
from resilience.store.alerts import list_alerts
from tests.conftest import Api

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
RULES = [
    Rule(name="rollbacks", metric="rollback_rate", pending_minutes=0, per_component=True),
    Rule(name="slow-rollbacks", metric="rollback_rate", pending_minutes=30, per_component=True),
]


@pytest.fixture
def alerts(db: psycopg.Connection) -> dict[str, int]:
    """A firing and a pending alert for component Checkout."""
    db.execute(
        """INSERT INTO resilience_metrics (ts, session_id, component, signal)
           SELECT %s, 's', 'Checkout', 'optimistic_action_rollback' FROM generate_series(1, 12)""",
        (T0 - timedelta(minutes=1),),
    )
    evaluate(db, RULES, now=T0)
    return {a.rule: a.id for a in list_alerts(db)}


def test_lists_alerts_with_the_documented_fields(api: Api, alerts: dict[str, int]) -> None:
    answer = api.get("/v1/alerts")
    assert answer.status == 200
    by_rule = {a["rule"]: a for a in answer.body["alerts"]}
    firing = by_rule["rollbacks"]
    for field in (
        "id", "rule", "metric", "component", "state", "severity", "value", "threshold",
        "started_at", "resolved_at", "acknowledged_at", "acknowledged_by",
    ):  # fmt: skip
        assert field in firing, field
    assert (firing["state"], firing["component"], firing["value"], firing["threshold"]) == (
        "firing",
        "Checkout",
        100.0,
        5.0,
    )
    assert datetime.fromisoformat(firing["started_at"]) == T0
    assert by_rule["slow-rollbacks"]["state"] == "pending"


def test_filters_by_state(api: Api, alerts: dict[str, int]) -> None:
    assert [a["rule"] for a in api.get("/v1/alerts", query={"state": "pending"}).body["alerts"]] == ["slow-rollbacks"]
    assert api.get("/v1/alerts", query={"state": "resolved"}).body == {"alerts": []}


def test_an_unknown_state_is_a_400_naming_the_field(api: Api, alerts: dict[str, int]) -> None:
    answer = api.get("/v1/alerts", query={"state": "burning"})
    assert answer.status == 400
    assert answer.body["errors"][0]["field"] == "state"


def test_alerts_need_the_admin_token(api: Api, alerts: dict[str, int]) -> None:
    assert api.get("/v1/alerts", token=None).status == 401
    assert api.post(f"/v1/alerts/{alerts['rollbacks']}/acknowledge", {"by": "ana"}, token="wrong").status == 401


def test_acknowledging_records_who_and_why_and_twice_is_harmless(api: Api, alerts: dict[str, int]) -> None:
    path = f"/v1/alerts/{alerts['rollbacks']}/acknowledge"
    first = api.post(path, {"by": "ana", "note": "rolling back the release"})
    assert first.status == 200
    assert (first.body["acknowledged_by"], first.body["acknowledge_note"]) == ("ana", "rolling back the release")
    assert first.body["acknowledged_at"] is not None
    second = api.post(path, {"by": "bo"})
    assert second.status == 200
    assert (second.body["acknowledged_by"], second.body["acknowledged_at"]) == ("ana", first.body["acknowledged_at"])
    listed = {a["id"]: a for a in api.get("/v1/alerts").body["alerts"]}
    assert listed[alerts["rollbacks"]]["acknowledged_by"] == "ana"
    assert listed[alerts["slow-rollbacks"]]["acknowledged_by"] is None


@pytest.mark.parametrize("alert_id", ["999999", "abc", "0", "99999999999999999999999"])
def test_an_unknown_id_is_404(api: Api, alerts: dict[str, int], alert_id: str) -> None:
    answer = api.post(f"/v1/alerts/{alert_id}/acknowledge", {"by": "ana"})
    assert answer.status == 404
    assert answer.body["message"] == f"no alert {alert_id}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "by"),
        ({"by": ""}, "by"),
        ({"by": "   "}, "by"),
        ({"by": "ana", "colour": "red"}, "colour"),
        ({"by": "ana", "note": "x" * 2001}, "note"),
        ({"by": 42}, "by"),
        ("not json", "body"),
        ([], "body"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(api: Api, alerts: dict[str, int], body: object, field: str) -> None:
    answer = api.post(f"/v1/alerts/{alerts['rollbacks']}/acknowledge", body)
    assert answer.status == 400, answer.body
    assert answer.body["errors"][0]["field"] == field
    assert api.get("/v1/alerts").body["alerts"][0]["acknowledged_at"] is None
