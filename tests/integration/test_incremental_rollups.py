"""The incremental refresh: unique users and sessions kept from the new rows alone, and still exact.

Whatever path a day takes (tracked and added to, entering the window, or rebuilt from raw rows on
other connections), the rollups equal a from-scratch recomputation, and the sets of tracked days
hold exactly their raw rows' users and sessions; faults and races change nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from resilience.history import Granularity
from resilience.store import rollups
from resilience.store.counts import series, signal_counts
from resilience.store.migrations import default_directory, load, migrate
from resilience.windows import Window
from tests.rollup_data import (
    USERS,
    assert_rollups_match_raw_rows,
    assert_sets_match_raw_rows,
    event,
    from_scratch,
    hour_floor,
    ingest,
    random_events,
    raw_counts,
    rollup,
)

NOW = datetime.now(UTC)
TODAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
REBUILDER = "rollup-rebuild"


def connect_to(url: str) -> rollups.Connect:
    """Connections for the parallel rebuilds, named so a test can find them in pg_stat_activity."""
    return lambda: psycopg.connect(url, autocommit=True, application_name=REBUILDER)


def refresh(url: str, *, parallel: bool = True) -> rollups.RefreshResult:
    with psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
        return rollups.refresh(conn, connect_to(url) if parallel else None)


def assert_exact(db: psycopg.Connection) -> None:
    assert_rollups_match_raw_rows(db)
    assert_sets_match_raw_rows(db)


def series_points(db: psycopg.Connection, window: Window, granularity: Granularity) -> list[tuple[object, ...]]:
    return [
        (
            p.bucket,
            p.component,
            p.signal,
            p.count,
            p.unique_users,
            p.unique_sessions,
        )
        for p in series(db, window, granularity)
    ]


def test_every_path_of_the_refresh_stays_equal_to_a_from_scratch_recomputation(
    db: psycopg.Connection, database_url: str
) -> None:
    rng = random.Random(21)
    window = Window(TODAY - timedelta(days=12), NOW + timedelta(minutes=5))
    for round_ in range(8):
        # The tracked window (today and the two days before), late events for older days, and now.
        ingest(db, random_events(rng, rng.randrange(1, 150), TODAY - timedelta(days=2), NOW))
        ingest(db, random_events(rng, rng.randrange(1, 60), TODAY - timedelta(days=12), TODAY - timedelta(days=2)))
        ingest(db, random_events(rng, rng.randrange(1, 30), NOW - timedelta(minutes=10), NOW))
        for granularity in Granularity:
            # Pending rows on tracked days are added to the rollups, on older days recomputed.
            expected = [r for r in from_scratch(db, granularity.value) if r[0] >= window.start]
            assert series_points(db, window, granularity) == expected
        refresh(database_url, parallel=round_ % 2 == 0)
        assert_exact(db)
    assert db.execute("SELECT count(*) FROM resilience_rollup_pending_rows").fetchone() == (0,)


def test_a_user_seen_in_two_hours_of_a_day_counts_once_for_the_day_and_once_in_each_hour(
    db: psycopg.Connection, database_url: str
) -> None:
    first = hour_floor(NOW) - timedelta(hours=3) if NOW.hour >= 3 else TODAY
    later = first + timedelta(hours=2)
    ingest(db, [event(first + timedelta(minutes=5), "retry_success", user_id=USERS[0], session_id="a")])
    refresh(database_url)
    ingest(
        db,
        [
            event(later, "retry_success", user_id=USERS[0], session_id="a"),
            event(later + timedelta(minutes=1), "retry_success", user_id=USERS[0], session_id="b"),
        ],
    )
    refresh(database_url)
    assert [r[3:] for r in rollup(db, "hour")] == [(1, 1, 1), (2, 1, 2)]
    assert [r[3:] for r in rollup(db, "day")] == [(3, 1, 2)]
    assert_exact(db)


def test_a_component_first_seen_after_a_members_day_bitmap_was_written_counts_the_member_once(
    db: psycopg.Connection, database_url: str
) -> None:
    first = hour_floor(NOW) - timedelta(hours=3) if NOW.hour >= 3 else TODAY
    ingest(db, [event(first, "retry_success", "CheckoutForm", user_id=USERS[0], session_id="a")])
    refresh(database_url)
    narrow = db.execute("SELECT length(pairs) FROM resilience_rollup_day_users").fetchone()
    # A new component gets the next number, beyond the end of the member's bitmap: widened, not lost.
    for minutes in (20, 40, 70):
        ingest(db, [event(first + timedelta(minutes=minutes), "retry_success", "Brand new", user_id=USERS[0])])
        refresh(database_url)
    wide = db.execute("SELECT length(pairs) FROM resilience_rollup_day_users").fetchone()
    assert narrow is not None
    assert wide is not None
    assert wide[0] > narrow[0]
    daily = {r[1]: r[3:] for r in rollup(db, "day")}
    assert daily["Brand new"][1] == 1
    assert daily["CheckoutForm"][1] == 1
    assert_exact(db)


def test_only_recent_rows_are_kept_for_the_sets_and_a_refresh_takes_them_all(
    db: psycopg.Connection, database_url: str
) -> None:
    recent = NOW - timedelta(minutes=3)
    ingest(db, [event(recent, "retry_success"), event(TODAY - timedelta(days=9), "retry_failure")])
    kept = db.execute("SELECT signal FROM resilience_rollup_pending_rows").fetchall()
    assert kept == [("retry_success",)]
    refresh(database_url)
    assert db.execute("SELECT count(*) FROM resilience_rollup_pending_rows").fetchone() == (0,)
    day = hour_floor(recent).replace(hour=0)
    assert db.execute("SELECT day FROM resilience_rollup_tracked_days").fetchall() == [(day,)]
    assert_exact(db)


def test_refresh_resilience_metrics_views_in_sql_runs_the_incremental_refresh(db: psycopg.Connection) -> None:
    rng = random.Random(22)
    ingest(db, random_events(rng, 200, TODAY - timedelta(days=6), NOW))
    ingest(db, [event(NOW - timedelta(seconds=30), "retry_success")])
    db.execute("SELECT refresh_resilience_metrics_views()")
    assert_exact(db)
    tracked = db.execute("SELECT day FROM resilience_rollup_tracked_days ORDER BY 1").fetchall()
    assert tracked[-1] == (hour_floor(NOW - timedelta(seconds=30)).replace(hour=0),)
    ingest(db, random_events(rng, 40, NOW - timedelta(hours=1), NOW))
    ingest(db, random_events(rng, 5, TODAY - timedelta(days=5), TODAY - timedelta(days=4)))
    db.execute("SELECT refresh_resilience_metrics_views()")
    assert_exact(db)
    # Incremental: the tracked days kept their sets, nothing is left pending.
    assert db.execute("SELECT day FROM resilience_rollup_tracked_days ORDER BY 1").fetchall() == tracked
    assert db.execute("SELECT count(*) FROM resilience_rollup_pending").fetchone() == (0,)


def test_sets_of_days_that_leave_the_window_are_dropped_whole(db: psycopg.Connection, database_url: str) -> None:
    old = TODAY - timedelta(days=5)
    ingest(db, [event(old + timedelta(hours=3), "retry_success", user_id=USERS[2])])
    # Track the old day by hand, as a refresh would have while it was recent.
    with db.transaction():
        db.execute("SELECT resilience_rollup_refresh_start()")
        db.execute("SELECT resilience_rollup_track(%s)", (old,))
        db.execute("SELECT * FROM resilience_rollup_refresh_finish()")
    partition = f"resilience_rollup_day_users_p{old:%Y%m%d}"
    assert db.execute("SELECT to_regclass(%s) IS NOT NULL", (partition,)).fetchone() == (True,)
    recent = NOW - timedelta(minutes=1)
    ingest(db, [event(recent, "retry_failure")])
    refresh(database_url)
    assert db.execute("SELECT to_regclass(%s)", (partition,)).fetchone() == (None,)
    day = hour_floor(recent).replace(hour=0)
    assert db.execute("SELECT day FROM resilience_rollup_tracked_days").fetchall() == [(day,)]
    # A late event for that day now rebuilds it from raw rows.
    ingest(db, [event(old + timedelta(hours=4), "retry_success", user_id=USERS[2])])
    refresh(database_url)
    assert_exact(db)


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(11, id="a row per member, component and signal, keyed component first"),
        pytest.param(12, id="a row per member, component and signal, keyed member first"),
    ],
)
def test_sets_built_in_an_earlier_shape_are_rebuilt_and_stay_exact(
    empty_database: str, tmp_path: Path, shape: int
) -> None:
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    for migration in load(default_directory()):
        if migration.version < shape:
            (earlier / f"{migration.name}.sql").write_text(migration.sql)
    migrate(empty_database, earlier)
    rng = random.Random(31)
    with psycopg.connect(empty_database, autocommit=True, options="-c timezone=UTC") as db:
        ingest(db, random_events(rng, 200, TODAY - timedelta(days=2), NOW))
        refresh(empty_database)
        assert db.execute("SELECT count(*) FROM resilience_rollup_tracked_days").fetchone() != (0,)
        migrate(empty_database)
        # The upgrade drops the sets; the next refresh tracks the recent days anew from raw rows.
        assert db.execute("SELECT count(*) FROM resilience_rollup_tracked_days").fetchone() == (0,)
        ingest(db, random_events(rng, 80, TODAY - timedelta(days=2), NOW))
        refresh(empty_database)
        assert_exact(db)
        ingest(db, random_events(rng, 80, NOW - timedelta(hours=2), NOW))
        refresh(empty_database)
        assert_exact(db)


def test_sets_emptied_by_a_crash_are_rebuilt_from_raw_rows_and_nothing_counts_twice(
    db: psycopg.Connection, database_url: str
) -> None:
    rng = random.Random(29)
    window = Window(TODAY - timedelta(days=2), NOW + timedelta(minutes=5))
    ingest(db, random_events(rng, 200, window.start, NOW))
    refresh(database_url)
    # The sets are unlogged: crash recovery (or a failover) leaves them empty, as TRUNCATE does.
    for (day,) in db.execute("SELECT day FROM resilience_rollup_tracked_days").fetchall():
        db.execute(
            f"TRUNCATE resilience_rollup_day_users_p{day:%Y%m%d}, resilience_rollup_day_sessions_p{day:%Y%m%d},"
            f" resilience_rollup_hour_users_p{day:%Y%m%d}, resilience_rollup_hour_sessions_p{day:%Y%m%d}"
        )
    ingest(db, random_events(rng, 60, window.start, NOW))
    for granularity in Granularity:
        expected = [r for r in from_scratch(db, granularity.value) if r[0] >= window.start]
        assert series_points(db, window, granularity) == expected
    refresh(database_url)
    assert_exact(db)


def test_rows_committed_after_a_rebuild_read_the_day_stay_pending_and_count_once(
    db: psycopg.Connection, database_url: str
) -> None:
    old = TODAY - timedelta(days=8)
    ingest(db, [event(old + timedelta(hours=1), "retry_success", session_id="first")])
    with (
        psycopg.connect(database_url, autocommit=True, options="-c timezone=UTC") as main,
        main.transaction(),
        main.cursor() as cur,
    ):
        days = [r[0] for r in cur.execute("SELECT resilience_rollup_refresh_start()").fetchall()]
        assert days == [old]
        with psycopg.connect(database_url, autocommit=True) as other:
            rebuilt = other.execute(
                "SELECT %(d)s::timestamptz, r.snapshot::text, r.unit, r.bucket, r.component, r.signal,"
                " r.count, r.unique_users, r.unique_sessions FROM resilience_rollup_rebuild(%(d)s) r",
                {"d": old},
            ).fetchall()
        # Committed after the rebuild read the day, before the refresh applies it.
        ingest(db, [event(old + timedelta(hours=1, minutes=5), "retry_success", session_id="second")])
        with cur.copy("COPY rollup_rebuilt FROM STDIN") as copy:
            for row in rebuilt:
                copy.write_row(row)
        cur.execute("SELECT * FROM resilience_rollup_refresh_finish()")
    assert [r[3:] for r in rollup(db, "hour")] == [(1, 0, 1)]
    assert db.execute("SELECT sum(count) FROM resilience_rollup_pending").fetchone() == (1,)
    # Readers add the pending count to the rollup: the second row counts once, now and after.
    window = Window(old, old + timedelta(days=1))
    assert signal_counts(db, window) == {"retry_success": 2}
    refresh(database_url)
    assert signal_counts(db, window) == {"retry_success": 2}
    assert_exact(db)


def backend_waiting_on_a_lock(db: psycopg.Connection, where: str) -> int:
    """The pid of the backend that `where` picks once it waits for a lock."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = db.execute(
            f"SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND {where} LIMIT 1"
        ).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.02)
    raise AssertionError(f"no backend waits on a lock where {where}")


@pytest.fixture
def blocker(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection that holds table locks until the test releases them (by rolling back)."""
    with psycopg.connect(database_url) as conn:
        yield conn
        conn.rollback()


def refresh_in_background(url: str, outcome: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            outcome.append(refresh(url))
        except psycopg.Error as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_refresh_killed_midway_leaves_nothing_half_done_and_the_next_one_is_exact(
    db: psycopg.Connection, database_url: str, blocker: psycopg.Connection
) -> None:
    rng = random.Random(23)
    ingest(db, random_events(rng, 300, TODAY - timedelta(days=9), NOW))
    before = (rollup(db, "hour"), db.execute("SELECT sum(count) FROM resilience_rollup_pending").fetchone())
    # Writing the daily rollup comes after the rebuilds and the sets: the refresh stops there.
    blocker.execute("LOCK TABLE resilience_rollup_daily IN EXCLUSIVE MODE")
    outcome: list[object] = []
    thread = refresh_in_background(database_url, outcome)
    pid = backend_waiting_on_a_lock(db, "query LIKE '%refresh_finish%'")
    db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    thread.join(timeout=30)
    blocker.rollback()
    assert isinstance(outcome[0], psycopg.OperationalError)
    assert (rollup(db, "hour"), db.execute("SELECT sum(count) FROM resilience_rollup_pending").fetchone()) == before
    assert db.execute("SELECT count(*) FROM resilience_rollup_tracked_days").fetchone() == (0,)
    refresh(database_url)
    assert_exact(db)


def test_a_rebuild_connection_killed_midway_fails_the_refresh_and_the_next_one_is_exact(
    db: psycopg.Connection, database_url: str, blocker: psycopg.Connection
) -> None:
    rng = random.Random(24)
    ingest(db, random_events(rng, 200, TODAY - timedelta(days=10), TODAY - timedelta(days=4)))
    ingest(db, random_events(rng, 50, TODAY, NOW))
    # Every read of raw rows waits; a rebuild connection is killed while it does.
    blocker.execute("LOCK TABLE resilience_metrics IN ACCESS EXCLUSIVE MODE")
    outcome: list[object] = []
    thread = refresh_in_background(database_url, outcome)
    pid = backend_waiting_on_a_lock(db, f"application_name = '{REBUILDER}'")
    db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    blocker.rollback()
    thread.join(timeout=60)
    assert isinstance(outcome[0], psycopg.OperationalError)
    assert db.execute("SELECT count(*) FROM resilience_rollup_hourly").fetchone() == (0,)
    refresh(database_url)
    assert_exact(db)


def test_a_second_refresh_waits_for_the_first_and_then_takes_only_what_came_after(
    db: psycopg.Connection, database_url: str, blocker: psycopg.Connection
) -> None:
    rng = random.Random(25)
    ingest(db, random_events(rng, 300, TODAY - timedelta(days=6), NOW))
    blocker.execute("LOCK TABLE resilience_rollup_daily IN EXCLUSIVE MODE")
    first: list[object] = []
    first_thread = refresh_in_background(database_url, first)
    backend_waiting_on_a_lock(db, "query LIKE '%refresh_finish%'")
    second: list[object] = []
    second_thread = refresh_in_background(database_url, second)
    backend_waiting_on_a_lock(db, "wait_event = 'advisory'")
    late = event(NOW - timedelta(minutes=2), "error_boundary_triggered", "Latecomer")
    ingest(db, [late])
    blocker.rollback()
    first_thread.join(timeout=60)
    second_thread.join(timeout=60)
    assert isinstance(first[0], rollups.RefreshResult)
    assert isinstance(second[0], rollups.RefreshResult)
    assert (second[0].hours, second[0].days) == (1, 1)
    assert_exact(db)


def test_ingest_running_during_parallel_refreshes_loses_and_doubles_nothing(
    db: psycopg.Connection, database_url: str
) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_ingesting(seed: int) -> None:
        local = random.Random(seed)
        try:
            with psycopg.connect(database_url, autocommit=True, options="-c timezone=UTC") as conn:
                while not stop.is_set():
                    ingest(conn, random_events(local, 20, TODAY - timedelta(days=2), NOW))
                    ingest(conn, random_events(local, 5, TODAY - timedelta(days=11), TODAY - timedelta(days=3)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ingest(db, random_events(random.Random(26), 200, TODAY - timedelta(days=11), NOW))
    writers = [threading.Thread(target=keep_ingesting, args=(seed,)) for seed in (27, 28)]
    for t in writers:
        t.start()
    try:
        for _ in range(6):
            refresh(database_url)
            window = Window(TODAY - timedelta(days=11), NOW + timedelta(minutes=1))
            # Exact at any moment: the counts a reader sees match the raw rows of the same snapshot.
            with db.transaction(), db.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                assert signal_counts(db, window, by_component=True) == raw_counts(db, window.start, window.end)
    finally:
        stop.set()
        for t in writers:
            t.join()
    assert errors == []
    refresh(database_url)
    assert_exact(db)
