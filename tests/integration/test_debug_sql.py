"""The original setup's debug queries (README, "Debugging with SQL") run unchanged against this schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from resilience.store import rollups
from tests.rollup_data import event, hour_floor, ingest

# The original setup's queries verbatim, line breaks and trailing spaces included (README,
# "Debugging with SQL", shows them reflowed).
RECENT_TELEMETRY = "SELECT * FROM resilience_metrics \nWHERE ts > NOW() - INTERVAL '1 hour'\nORDER BY ts DESC;"
COMPONENT_HEALTH = (
    "SELECT component, signal, COUNT(*) \nFROM resilience_metrics \n"
    "WHERE ts > NOW() - INTERVAL '24 hours'\nGROUP BY component, signal;"
)
HOURLY_VIEW = "SELECT * FROM resilience_metrics_hourly LIMIT 5;"
DAILY_VIEW = "SELECT * FROM resilience_metrics_daily LIMIT 5;"


def columns(cur: psycopg.Cursor) -> list[str]:  # type: ignore[type-arg]
    return [c.name for c in cur.description or []]


def seed(db: psycopg.Connection) -> datetime:
    now = datetime.now(UTC)
    ingest(
        db,
        [
            event(now - timedelta(minutes=5), "retry_success", "CheckoutForm", session_id="s1"),
            event(now - timedelta(minutes=20), "retry_failure", "CheckoutForm", session_id="s2"),
            event(now - timedelta(hours=5), "retry_success", "CheckoutForm", session_id="s3"),
            event(now - timedelta(hours=30), "error_boundary_triggered", "SearchBox", session_id="s4"),
        ],
    )
    return now


def test_recent_telemetry_lists_the_last_hour_newest_first(db: psycopg.Connection) -> None:
    now = seed(db)
    with db.cursor() as cur:
        rows = cur.execute(RECENT_TELEMETRY).fetchall()
        names = columns(cur)
    assert names[:7] == ["id", "ts", "user_id", "session_id", "component", "signal", "data"]
    signal, ts = names.index("signal"), names.index("ts")
    assert [r[signal] for r in rows] == ["retry_success", "retry_failure"]
    assert rows[0][ts] > rows[1][ts] > now - timedelta(hours=1)


def test_component_health_counts_the_last_day_by_component_and_signal(db: psycopg.Connection) -> None:
    seed(db)
    rows = db.execute(COMPONENT_HEALTH).fetchall()
    assert sorted(rows) == [("CheckoutForm", "retry_failure", 1), ("CheckoutForm", "retry_success", 2)]


def test_the_hourly_and_daily_views_show_rolled_up_rows(db: psycopg.Connection) -> None:
    now = seed(db)
    rollups.refresh(db)
    with db.cursor() as cur:
        hourly = cur.execute(HOURLY_VIEW).fetchall()
        assert columns(cur) == ["hour", "component", "signal", "count", "unique_users", "unique_sessions"]
        daily = cur.execute(DAILY_VIEW).fetchall()
        assert columns(cur) == ["day", "component", "signal", "count", "unique_users", "unique_sessions"]
    assert 1 <= len(hourly) <= 5
    assert 1 <= len(daily) <= 5
    assert sum(r[3] for r in db.execute("SELECT * FROM resilience_metrics_hourly")) == 4
    assert sum(r[3] for r in db.execute("SELECT * FROM resilience_metrics_daily")) == 4
    assert (hour_floor(now - timedelta(minutes=5)), "CheckoutForm") in {
        (r[0], r[1]) for r in db.execute("SELECT * FROM resilience_metrics_hourly")
    }
