"""`make run DEMO=1`: the demo traffic goes through the real ingest route and tells the story it promises."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from local.demo import PROFILES, REGRESSED, REGRESSION_HOURS, Demo, history, send
from tests.conftest import ADMIN_TOKEN


def admin_get(base: str, path: str) -> Any:
    request = urllib.request.Request(base + path, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_the_history_is_stored_once_and_shows_a_regression_in_one_component(live_server: str) -> None:
    now = datetime.now(UTC)
    events = list(history(now, days=3))
    assert send(live_server, events) == len(events)
    assert send(live_server, events[:1000]) == 0, "sending the demo again stores nothing twice"

    assert {c["component"] for c in admin_get(live_server, "/v1/components")["components"]} == {
        p.component for p in PROFILES
    }
    regression = (now - timedelta(hours=REGRESSION_HOURS)).isoformat().replace("+", "%2B")
    components = admin_get(live_server, f"/v1/components?from={regression}")["components"]
    rollbacks = {c["component"]: next(m for m in c["metrics"] if m["metric"] == "rollback_rate") for c in components}
    # Other rates of the quieter components may breach now and then (few samples at night); the
    # regression is the rollback rate of one component, above everyone else's.
    assert rollbacks[REGRESSED]["status"] == "alert"
    others = [r["value"] or 0 for name, r in rollbacks.items() if name != REGRESSED]
    assert rollbacks[REGRESSED]["value"] > max(others)

    since = (now - timedelta(days=3)).isoformat()
    days = admin_get(live_server, f"/v1/metrics/series?granularity=day&from={since.replace('+', '%2B')}")["series"]
    assert len({point["bucket"] for point in days}) >= 3, "history over the past days, so the daily chart shows"


def test_the_demo_fills_the_database_then_brings_rollups_and_alerts_up_to_date(
    live_server: str, db: psycopg.Connection
) -> None:
    schedules_ran = threading.Event()

    def run_schedules() -> None:
        stored = db.execute("SELECT count(*) FROM resilience_metrics").fetchone()
        assert stored is not None
        assert stored[0] > 0, "the schedules run after the history is stored"
        schedules_ran.set()

    demo = Demo(live_server, lambda: True, run_schedules, every_seconds=0.05, days=1)
    demo.start()
    try:
        assert schedules_ran.wait(60)
        deadline = time.monotonic() + 30
        before = db.execute("SELECT max(received_at) FROM resilience_metrics").fetchone()
        while time.monotonic() < deadline:
            after = db.execute("SELECT max(received_at) FROM resilience_metrics").fetchone()
            if after != before:
                break
            time.sleep(0.1)
        assert after != before, "live traffic keeps arriving after the history"
    finally:
        demo.stop()
