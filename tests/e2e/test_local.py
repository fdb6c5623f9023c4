"""The local runner: `make run` serves the template over HTTP and stops cleanly; `make invoke` runs one handler."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.scheduler import next_time
from local.template import env_name, load, parameter_values
from tests.conftest import ADMIN_TOKEN, ROOT, call, free_port, runner_env, signal_event, start_runner, stop_runner


def test_parameter_names_become_upper_snake_case_variables() -> None:
    assert env_name("RetentionDays") == "RETENTION_DAYS"
    assert env_name("AlertEvaluationSchedule") == "ALERT_EVALUATION_SCHEDULE"
    assert env_name("DatabaseSecretArn") == "DATABASE_SECRET_ARN"


def test_a_variable_overrides_a_parameters_default() -> None:
    template = load()
    assert parameter_values(template, {})["RetentionDays"] == "90"
    assert parameter_values(template, {"RETENTION_DAYS": "30"})["RetentionDays"] == "30"


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(5 minutes)", "2026-11-26T10:02:30", "2026-11-26T10:07:30"),
        ("rate(1 hour)", "2026-11-26T10:02:00", "2026-11-26T11:02:00"),
        ("rate(1 day)", "2026-11-26T10:00:00", "2026-11-27T10:00:00"),
        ("cron(0 3 * * ? *)", "2026-11-26T10:02:00", "2026-11-27T03:00:00"),
        ("cron(*/15 * * * ? *)", "2026-11-26T10:02:00", "2026-11-26T10:15:00"),
        ("cron(30 9 ? * 2 *)", "2026-11-26T10:00:00", "2026-11-30T09:30:00"),  # 2 = Monday
    ],
)
def test_schedule_expressions_fire_when_eventbridge_would(expression: str, after: str, expected: str) -> None:
    start = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert next_time(expression, start) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_an_unsupported_expression_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        next_time("every tuesday", datetime.now(UTC))


def test_make_run_serves_every_route_and_stops_on_sigterm(database_url: str, db: Any, tmp_path: Path) -> None:
    port = free_port()
    process, lines = start_runner(
        runner_env(DATABASE_URL=database_url, ADMIN_TOKEN=ADMIN_TOKEN, LOCAL_DIR=str(tmp_path)), port
    )
    base = f"http://127.0.0.1:{port}"
    try:
        banner = "".join(lines)
        for expected in (f"{base}/dashboard", f"{base}/docs", f"Admin token  {ADMIN_TOKEN}  (from ADMIN_TOKEN)"):
            assert expected in banner
        status, body, headers = call("POST", f"{base}/v1/telemetry", {"events": [signal_event("retry_success")]})
        assert (status, body["accepted"]) == (200, 1)
        assert headers["access-control-allow-origin"] == "*"
        again = call("GET", f"{base}/v1/telemetry", token=ADMIN_TOKEN)
        assert [e["signal"] for e in again[1]["events"]] == ["retry_success"]
        assert call("GET", f"{base}/v1/telemetry")[0] == 401
        assert call("GET", f"{base}/v1/health")[1]["database"] == "ok"
        assert call("GET", f"{base}/v1/nowhere")[0] == 404
        preflight = urllib.request.Request(f"{base}/v1/telemetry", method="OPTIONS")
        with urllib.request.urlopen(preflight, timeout=10) as response:
            assert "POST" in response.headers["access-control-allow-methods"]
    finally:
        out = stop_runner(process)
    assert "stopped" in out


def test_make_run_starts_and_stops_its_own_embedded_postgres(tmp_path: Path) -> None:
    port = free_port()
    process, lines = start_runner(runner_env(LOCAL_DIR=str(tmp_path)), port)
    try:
        assert f"embedded, data in {tmp_path}/pgdata" in "".join(lines)
        assert (tmp_path / "pgdata" / "postmaster.pid").exists()
        token = (tmp_path / "admin-token").read_text().strip()
        assert f"Admin token  {token}  (generated, kept in {tmp_path / 'admin-token'})" in "".join(lines)
        assert call("GET", f"http://127.0.0.1:{port}/v1/telemetry", token=token)[0] == 200
    finally:
        stop_runner(process)
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()


def test_make_invoke_runs_one_handler_on_an_event_file(database_url: str, db: Any, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local", "invoke", "IngestFunction", "--event", "events/ingest.json"],
        cwd=ROOT,
        env=runner_env(DATABASE_URL=database_url, LOCAL_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout[result.stdout.index("{") :])
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["accepted"] == 4


def test_make_invoke_names_the_functions_when_given_an_unknown_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local", "invoke", "NoSuchFunction"],
        cwd=ROOT,
        env=runner_env(LOCAL_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "IngestFunction" in result.stderr


@pytest.mark.parametrize("concurrency", ["0", "2"], ids=["in process", "in containers"])
def test_make_run_queued_answers_202_and_its_writer_stores_each_event_once(
    database_url: str, db: Any, tmp_path: Path, concurrency: str
) -> None:
    port = free_port()
    env = runner_env(
        DATABASE_URL=database_url, ADMIN_TOKEN=ADMIN_TOKEN, LOCAL_DIR=str(tmp_path),
        INGEST_MODE="queued", LOCAL_CONCURRENCY=concurrency,
    )  # fmt: skip
    process, lines = start_runner(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        assert "Ingest       queued: POST answers 202; IngestWriterFunction: batches of 1000" in "".join(lines)
        batch = [signal_event("retry_success", id=str(uuid.uuid4())) for _ in range(30)]
        status, body, _ = call("POST", f"{base}/v1/telemetry", {"events": [*batch, signal_event("nope")]})
        assert status == 202
        assert body["queued"] == 30
        assert [r["index"] for r in body["rejected"]] == [30]
        # The client retries the same events: the writer stores each id once.
        assert call("POST", f"{base}/v1/telemetry", {"events": batch})[0] == 202
        deadline = time.monotonic() + 60
        while db.execute("SELECT count(*) FROM resilience_metrics").fetchone() != (30,):
            assert time.monotonic() < deadline, "the writer did not store the queued events"
            time.sleep(0.2)
        time.sleep(1)
        assert db.execute("SELECT count(DISTINCT id), count(*) FROM resilience_metrics").fetchone() == (30, 30)
    finally:
        stop_runner(process)
