"""Rollups: the incremental refresh always equals a from-scratch recomputation, and trim removes old buckets."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import psycopg

from resilience.store import rollups
from tests.conftest import run_together
from tests.rollup_data import (
    USERS,
    assert_rollups_match_raw_rows,
    event,
    hour_floor,
    ingest,
    random_events,
    rollup,
)

NOW = hour_floor(datetime.now(UTC))


def refresh(url: str) -> rollups.RefreshResult:
    with psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
        return rollups.refresh(conn)


def test_a_refresh_rolls_up_hours_and_days_with_unique_users_and_sessions(db: psycopg.Connection) -> None:
    t = NOW - timedelta(hours=30)
    ingest(
        db,
        [
            event(t + timedelta(minutes=1), "retry_success", user_id=None, session_id="a"),
            event(t + timedelta(minutes=2), "retry_success", user_id=USERS[1], session_id="a"),
            event(t + timedelta(minutes=3), "retry_success", user_id=USERS[1], session_id="b"),
            event(t + timedelta(minutes=70), "retry_success", user_id=USERS[2], session_id="b"),
        ],
    )
    result = refresh_db(db)
    assert (result.hours, result.days) == (2, len({t.date(), (t + timedelta(minutes=70)).date()}))
    hourly = rollup(db, "hour")
    assert [(r[0], r[3], r[4], r[5]) for r in hourly] == [(t, 3, 1, 2), (t + timedelta(hours=1), 1, 1, 1)]
    assert_rollups_match_raw_rows(db)


def refresh_db(db: psycopg.Connection) -> rollups.RefreshResult:
    return rollups.refresh(db)


def test_a_second_refresh_without_new_rows_does_nothing(db: psycopg.Connection) -> None:
    ingest(db, random_events(random.Random(1), 50, NOW - timedelta(hours=5), NOW))
    assert refresh_db(db).hours > 0
    assert refresh_db(db) == rollups.RefreshResult(0, 0, 0, 0)
    assert_rollups_match_raw_rows(db)


def test_only_the_hours_that_got_rows_are_recomputed(db: psycopg.Connection) -> None:
    ingest(db, random_events(random.Random(2), 200, NOW - timedelta(days=2), NOW))
    refresh_db(db)
    ingest(db, [event(NOW - timedelta(minutes=5), "retry_failure")])
    result = refresh_db(db)
    assert (result.hours, result.days) == (1, 1)
    assert_rollups_match_raw_rows(db)


def test_random_inserts_and_late_events_end_up_exactly_as_a_from_scratch_recomputation(
    db: psycopg.Connection,
) -> None:
    rng = random.Random(3)
    for round_ in range(6):
        # New rows near now, and late ones for hours and days rolled up long ago.
        ingest(db, random_events(rng, rng.randrange(1, 120), NOW - timedelta(hours=2), NOW + timedelta(minutes=4)))
        ingest(db, random_events(rng, rng.randrange(1, 40), NOW - timedelta(days=20), NOW - timedelta(days=1)))
        if round_ % 2 == 0:
            refresh_db(db)
            assert_rollups_match_raw_rows(db)
    refresh_db(db)
    assert_rollups_match_raw_rows(db)


def test_rows_inserted_with_plain_sql_are_rolled_up_too(db: psycopg.Connection) -> None:
    db.execute(
        "INSERT INTO resilience_metrics (id, ts, user_id, session_id, component, signal, data)"
        " VALUES (gen_random_uuid(), now() - interval '3 hours', NULL, 's', 'Legacy', 'retry_success', '{}')"
    )
    refresh_db(db)
    assert [r[1:] for r in rollup(db, "hour")] == [("Legacy", "retry_success", 1, 0, 1)]


def test_duplicates_skipped_by_ingest_are_not_counted(db: psycopg.Connection) -> None:
    e = event(NOW - timedelta(minutes=30), "retry_success")
    ingest(db, [e])
    ingest(db, [e])
    refresh_db(db)
    assert [r[3] for r in rollup(db, "hour")] == [1]
    assert db.execute("SELECT coalesce(sum(count), 0) FROM resilience_rollup_pending").fetchone() == (0,)
    assert db.execute("SELECT coalesce(sum(count), 0) FROM resilience_rollup_pending_signal").fetchone() == (0,)


def test_concurrent_refreshes_neither_corrupt_nor_double_anything(db: psycopg.Connection, database_url: str) -> None:
    rng = random.Random(4)
    ingest(db, random_events(rng, 400, NOW - timedelta(days=3), NOW))
    results = run_together(lambda: refresh(database_url), times=4)
    # The first to take the lock did the work; the others found nothing left to do.
    assert sorted(r.hours for r in results)[:3] == [0, 0, 0]
    assert max(r.hours for r in results) > 0
    assert_rollups_match_raw_rows(db)


def test_ingest_running_during_refreshes_loses_and_doubles_nothing(db: psycopg.Connection, database_url: str) -> None:
    rng = random.Random(5)
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_ingesting() -> None:
        local = random.Random(6)
        try:
            with psycopg.connect(database_url, autocommit=True, options="-c timezone=UTC") as conn:
                while not stop.is_set():
                    ingest(conn, random_events(local, 25, NOW - timedelta(hours=30), NOW))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def keep_refreshing() -> None:
        try:
            for _ in range(8):
                refresh(database_url)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ingest(db, random_events(rng, 100, NOW - timedelta(hours=30), NOW))
    writers = [threading.Thread(target=keep_ingesting) for _ in range(2)]
    refreshers = [threading.Thread(target=keep_refreshing) for _ in range(2)]
    for t in writers + refreshers:
        t.start()
    for t in refreshers:
        t.join()
    stop.set()
    for t in writers:
        t.join()
    assert errors == []
    refresh_db(db)
    assert_rollups_match_raw_rows(db)


def test_rollups_outlive_raw_rows_whose_partition_is_dropped(db: psycopg.Connection) -> None:
    day = (NOW - timedelta(days=1)).date()
    db.execute("SELECT resilience_create_partition(%s)", (day,))
    t = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    ingest(db, [event(t, "retry_success"), event(t, "retry_failure")])
    refresh_db(db)
    before = rollup(db, "hour")
    db.execute(f"DROP TABLE resilience_metrics_p{day:%Y%m%d}")
    ingest(db, [event(NOW - timedelta(minutes=1), "retry_success")])
    refresh_db(db)
    assert rollup(db, "hour")[: len(before)] == before
    db.execute("SELECT resilience_create_partition(%s)", (day,))


def test_trim_deletes_buckets_older_than_the_cutoff_and_keeps_the_rest(db: psycopg.Connection) -> None:
    ingest(db, [event(NOW - timedelta(days=d, minutes=30), "retry_success") for d in (1, 5, 10)])
    refresh_db(db)
    cutoff = NOW - timedelta(days=6)
    deleted = rollups.trim(db, cutoff)
    assert deleted == {"hourly": 1, "daily": 1}
    assert all(r[0] >= cutoff for r in rollup(db, "hour"))
    assert len(rollup(db, "hour")) == 2
    assert (
        db.execute("SELECT count(*) FROM resilience_rollup_signal_hourly WHERE bucket < %s", (cutoff,)).fetchone()[0]
        == 0
    )
    assert rollups.trim(db, cutoff) == {"hourly": 0, "daily": 0}


def test_the_original_view_names_show_the_rollups_under_the_original_columns(db: psycopg.Connection) -> None:
    ts = NOW - timedelta(minutes=10)
    ingest(db, [event(ts, "retry_success", session_id="s1")])
    refresh_db(db)
    with db.cursor() as cur:
        cur.execute("SELECT * FROM resilience_metrics_hourly")
        assert [c.name for c in cur.description or []] == [
            "hour",
            "component",
            "signal",
            "count",
            "unique_users",
            "unique_sessions",
        ]
        assert cur.fetchall() == [(hour_floor(ts), "CheckoutForm", "retry_success", 1, 0, 1)]
        cur.execute("SELECT * FROM resilience_metrics_daily")
        assert next(c.name for c in cur.description or []) == "day"
        day = hour_floor(ts).replace(hour=0)
        assert cur.fetchall() == [(day, "CheckoutForm", "retry_success", 1, 0, 1)]


def test_moving_rows_out_of_the_default_partition_neither_adds_nor_loses_counts(db: psycopg.Connection) -> None:
    day = (NOW - timedelta(days=12)).date()
    db.execute(f"DROP TABLE IF EXISTS resilience_metrics_p{day:%Y%m%d}")
    t = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    ingest(db, [event(t, "retry_success"), event(t + timedelta(hours=2), "retry_failure")])
    refresh_db(db)
    assert db.execute("SELECT count(*) FROM resilience_metrics_default").fetchone() == (2,)
    assert db.execute("SELECT resilience_create_partition(%s)", (day,)).fetchone() == (True,)
    assert db.execute("SELECT count(*) FROM resilience_metrics_default").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM resilience_rollup_pending").fetchone() == (0,)
    assert_rollups_match_raw_rows(db)
    db.execute(f"DROP TABLE resilience_metrics_p{day:%Y%m%d}")
