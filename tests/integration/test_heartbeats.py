"""Heartbeats in /v1/health: when the evaluation and the refresh last ran, and whether either is late."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from local import triggers
from resilience import settings
from tests.conftest import Api


def jobs(api: Api) -> dict[str, dict[str, Any]]:
    answer = api.get("/v1/health", token=None)
    assert answer.status == 200
    return {job["job"]: job for job in answer.body["jobs"]}


def test_each_run_of_the_evaluation_and_the_refresh_is_a_heartbeat(
    api: Api, invoke: Callable[[str, dict[str, Any]], Any], db: psycopg.Connection
) -> None:
    assert {name: job["status"] for name, job in jobs(api).items()} == {
        "alert_evaluation": "never_ran",
        "refresh": "never_ran",
    }
    before = datetime.now(UTC)
    invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    invoke("RefreshFunction", triggers.scheduled("RefreshSchedule"))
    beats = jobs(api)
    for name in ("alert_evaluation", "refresh"):
        assert beats[name]["status"] == "ok"
        assert datetime.fromisoformat(beats[name]["last_run_at"]) >= before
    assert (beats["alert_evaluation"]["late_after_seconds"], beats["refresh"]["late_after_seconds"]) == (600, 7200)
    assert api.get("/v1/health", token=None).body["status"] == "ok"


def test_an_evaluator_that_stopped_is_late_past_two_intervals_of_its_schedule(
    api: Api, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO job_runs (job, ran_at) VALUES ('alert_evaluation', %s), ('refresh', %s)",
        (now - timedelta(minutes=11), now - timedelta(minutes=30)),
    )
    health = api.get("/v1/health", token=None).body
    assert health["status"] == "late"
    assert {job["job"]: job["status"] for job in health["jobs"]} == {"alert_evaluation": "late", "refresh": "ok"}
    # Late is measured against the schedule the deployment gives: every 10 minutes, 11 minutes is on time.
    monkeypatch.setenv("ALERT_EVALUATION_SCHEDULE", "rate(10 minutes)")
    settings.reload()
    assert jobs(api)["alert_evaluation"]["status"] == "ok"
