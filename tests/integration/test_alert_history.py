"""GET /v1/alerts/{id}: an alert with its timeline, recorded as things happened."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from resilience import settings
from resilience_lambda.alerting import evaluate_and_publish
from tests.conftest import Api, signal_event
from tests.slack_listener import SlackListener

RULE = {"name": "checkout", "metric": "rollback_rate", "per_component": True, "window_minutes": 240}


def send(api: Api, *, rollbacks: int, successes: int) -> None:
    batch = [signal_event("optimistic_action_rollback", "Checkout") for _ in range(rollbacks)]
    batch += [signal_event("optimistic_action_success", "Checkout") for _ in range(successes)]
    assert api.post("/v1/telemetry", {"events": batch}, token=None).status == 200


def test_the_timeline_tells_pending_firing_notified_acknowledged_silenced_and_resolved(
    api: Api, slack: SlackListener, local_topic: Any, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_RULES", json.dumps([RULE]))
    settings.reload()
    send(api, rollbacks=10, successes=10)
    t0 = datetime.now(UTC)

    def at(minutes: int) -> dict[str, Any]:
        return evaluate_and_publish(now=t0 + timedelta(minutes=minutes))

    at(0)
    at(5)  # fires after the 5-minute pending period
    [alert] = api.get("/v1/alerts").body["alerts"]
    assert api.post(f"/v1/alerts/{alert['id']}/acknowledge", {"by": "ana", "note": "rolling back"}).status == 200
    made = api.post(
        "/v1/silences",
        {
            "matchers": {"component": "Checkout"},
            "ends_at": (t0 + timedelta(hours=2)).isoformat(),
            "comment": "c",
            "by": "bo",
        },
    ).body
    at(10)
    assert api.request("DELETE", f"/v1/silences/{made['id']}").status == 200
    # Expired as of now; the next evaluation, later, finds it over.
    at(20)
    send(api, rollbacks=0, successes=500)
    at(25)

    answer = api.get(f"/v1/alerts/{alert['id']}")
    assert answer.status == 200
    assert (answer.body["id"], answer.body["state"], answer.body["silenced"]) == (alert["id"], "resolved", False)
    timeline = [(e["kind"], e["by"], e["note"], e["detail"]) for e in answer.body["timeline"]]
    assert timeline == [
        ("pending", None, None, None),
        ("firing", None, None, None),
        ("notified", None, None, "firing notification"),
        ("acknowledged", "ana", "rolling back", None),
        ("silenced", None, None, f"silence {made['id']} by bo"),
        ("unsilenced", None, None, f"silence {made['id']} by bo"),
        ("resolved", None, None, None),
        ("notified", None, None, "resolved notification"),
    ]
    # State changes are dated as of their evaluation; notifications, acknowledgement as they happened.
    assert datetime.fromisoformat(answer.body["timeline"][0]["at"]) == t0
    assert datetime.fromisoformat(answer.body["timeline"][3]["at"]) <= datetime.now(UTC)


def test_an_unknown_alert_is_a_404_and_the_route_needs_the_admin_token(api: Api, db: psycopg.Connection) -> None:
    assert api.get("/v1/alerts/424242").status == 404
    assert api.get("/v1/alerts/abc").body["errors"] == [{"field": "id", "reason": "no alert abc"}]
    assert api.get("/v1/alerts/1", token=None).status == 401


def test_alerts_can_be_listed_for_one_component(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_RULES", json.dumps([{**RULE, "pending_minutes": 0}]))
    settings.reload()
    send(api, rollbacks=10, successes=10)
    batch = [signal_event("optimistic_action_rollback", "Search") for _ in range(10)]
    api.post("/v1/telemetry", {"events": batch}, token=None)
    evaluate_and_publish()
    listed = api.get("/v1/alerts", query={"component": "Search"}).body["alerts"]
    assert [a["component"] for a in listed] == ["Search"]
