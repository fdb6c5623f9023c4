"""Each scheduled function fired twice at the same moment, or killed and retried, has one effect.

The functions run as `make invoke` does, each in a process of its own, as two Lambda containers would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from local import triggers
from tests.conftest import ROOT, runner_env
from tests.rollup_data import from_scratch, rollup

FIRE_AT_ONCE = json.dumps([{"name": "rollbacks", "metric": "rollback_rate", "pending_minutes": 0}])


def start(function: str, database_url: str, tmp_path: Path) -> subprocess.Popen[str]:
    event = tmp_path / f"{function}.json"
    event.write_text(json.dumps(triggers.scheduled(function)))
    env = runner_env(DATABASE_URL=database_url, LOCAL_DIR=str(tmp_path), ALERT_RULES=FIRE_AT_ONCE)
    return subprocess.Popen(
        [sys.executable, "-m", "local", "invoke", function, "--event", str(event)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err[-3000:]
    # The handler's result is printed last, indented; log lines of one line each may come before it.
    lines = out.splitlines()
    return dict(json.loads("\n".join(lines[len(lines) - 1 - lines[::-1].index("{") :])))


def twice_at_once(function: str, database_url: str, tmp_path: Path) -> list[dict[str, Any]]:
    first, second = start(function, database_url, tmp_path), start(function, database_url, tmp_path)
    return [result(first), result(second)]


def killed_then_retried(
    function: str, database_url: str, tmp_path: Path, when: Callable[[], bool] | None = None
) -> dict[str, Any]:
    """Runs the function and kills it (as a Lambda timeout would) once `when` holds, then runs it again."""
    process = start(function, database_url, tmp_path)
    deadline = time.monotonic() + 120
    while when is not None and not when() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    return result(start(function, database_url, tmp_path))


def seed_events(db: psycopg.Connection, rows: int, *, days_ago: int = 0, component: str = "Checkout") -> None:
    """Rows spread over the last hours (or as many days back), half rollbacks: rollback_rate 50 %."""
    db.execute(
        """INSERT INTO resilience_metrics (ts, session_id, component, signal, user_id)
           SELECT now() - make_interval(days => %s) - (g %% 360) * interval '10 seconds', 's' || (g %% 500), %s,
                  CASE WHEN g %% 2 = 0 THEN 'optimistic_action_rollback' ELSE 'optimistic_action_success' END,
                  NULL
           FROM generate_series(1, %s) g""",
        (days_ago, component, rows),
    )


def refresh_running(db: psycopg.Connection) -> Callable[[], bool]:
    def running() -> bool:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'resilience-telemetry'"
            " AND state = 'active' AND query ILIKE '%resilience_rollup%'"
        ).fetchone()
        return bool(row and row[0])

    return running


def assert_rollups_exact(db: psycopg.Connection) -> None:
    assert rollup(db, "hour") == from_scratch(db, "hour")
    assert rollup(db, "day") == from_scratch(db, "day")


def test_refresh_fired_twice_at_once_rolls_up_once(db: psycopg.Connection, database_url: str, tmp_path: Path) -> None:
    seed_events(db, 5_000)
    results = twice_at_once("RefreshFunction", database_url, tmp_path)
    assert sorted(r["hours"] > 0 for r in results) == [False, True], "one did the work, the other found none left"
    assert_rollups_exact(db)


def test_refresh_killed_midway_leaves_the_next_run_to_complete_exactly(
    db: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:
    seed_events(db, 300_000)
    retried = killed_then_retried("RefreshFunction", database_url, tmp_path, when=refresh_running(db))
    assert retried["hours"] > 0, "the killed run committed nothing; the retry did it all"
    assert_rollups_exact(db)


def notifications(db: psycopg.Connection) -> list[tuple[str, str | None]]:
    return [
        (row[0], row[1])
        for row in db.execute("SELECT kind, payload->'alert'->>'component' FROM alert_outbox ORDER BY id")
    ]


def test_alert_evaluation_fired_twice_at_once_notifies_once(
    db: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:
    seed_events(db, 40)
    results = twice_at_once("AlertEvaluationFunction", database_url, tmp_path)
    assert sum(r["notifications"] for r in results) == 1
    assert notifications(db) == [("firing", None)]


def test_alert_evaluation_killed_and_retried_notifies_once(
    db: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:
    seed_events(db, 40)
    killed_then_retried("AlertEvaluationFunction", database_url, tmp_path, when=lambda: bool(notifications(db)))
    assert notifications(db) == [("firing", None)]


def expired_and_kept(db: psycopg.Connection) -> tuple[int, int]:
    row = db.execute(
        "SELECT count(*) FILTER (WHERE ts < now() - interval '100 days'),"
        " count(*) FILTER (WHERE ts >= now() - interval '1 day') FROM resilience_metrics"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_cleanup_fired_twice_at_once_removes_each_expired_row_once_and_keeps_the_rest(
    db: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:
    seed_events(db, 300, days_ago=120)  # past the 90 days of retention, in the default partition
    seed_events(db, 200)
    results = twice_at_once("CleanupFunction", database_url, tmp_path)
    assert sum(r["default_rows_deleted"] for r in results) == 300
    assert expired_and_kept(db) == (0, 200)


def test_cleanup_killed_and_retried_keeps_every_row_within_retention(
    db: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:
    seed_events(db, 300, days_ago=120)
    seed_events(db, 200)
    killed_then_retried("CleanupFunction", database_url, tmp_path, when=lambda: expired_and_kept(db)[0] < 300)
    assert expired_and_kept(db) == (0, 200)
