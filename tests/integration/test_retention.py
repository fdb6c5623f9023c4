"""The cleanup run: expired raw rows, rollups and resolved alerts go; everything newer stays, beside live ingest."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from resilience import retention
from resilience.jobs import cleanup
from resilience.settings import RetentionSettings
from resilience.store import partitions, rollups
from resilience.store.telemetry import insert_events
from resilience.telemetry import StoredEvent
from resilience.windows import day_start
from tests.conftest import ROOT

NOW = datetime.now(UTC)
TODAY = NOW.date()
SETTINGS = RetentionSettings(
    retention_days=30, rollup_retention_days=60, alert_retention_days=45, partitions_ahead_days=7
)
CUTOFF = retention.cutoff(NOW, 30)
DEFAULT = "resilience_metrics_default"


@pytest.fixture
def conn(fresh_database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(fresh_database_url, autocommit=True, options="-c timezone=UTC") as c:
        yield c


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, options="-c timezone=UTC")


def event(ts: datetime) -> StoredEvent:
    return StoredEvent(str(uuid.uuid4()), ts, None, "sess-1", "CheckoutForm", "retry_success", "{}")


def ingest(conn: psycopg.Connection, stamps: list[datetime]) -> list[uuid.UUID]:
    """Stores events through the ingest path; returns the ids it accepted."""
    events = [event(ts) for ts in stamps]
    with conn.transaction():
        result = insert_events(conn, events)
    assert result.accepted == len(events)
    return [e.id for e in events]


def home(conn: psycopg.Connection, row_id: uuid.UUID) -> str | None:
    row = conn.execute("SELECT tableoid::regclass::text FROM resilience_metrics WHERE id = %s", (row_id,)).fetchone()
    return None if row is None else row[0]


def stored(conn: psycopg.Connection, ids: list[uuid.UUID]) -> tuple[int, int]:
    """How many rows carry these ids, and how many distinct ids they carry."""
    row = conn.execute(
        "SELECT count(*), count(DISTINCT id) FROM resilience_metrics WHERE id = ANY(%s)", (ids,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def days_back(n: int, hour: int = 12) -> datetime:
    return day_start(TODAY - timedelta(days=n)) + timedelta(hours=hour)


def test_the_cutoff_is_midnight_utc_retention_days_before_today() -> None:
    late_evening = datetime(2026, 3, 10, 23, 59, tzinfo=UTC)
    assert retention.cutoff(late_evening, 30) == datetime(2026, 2, 8, tzinfo=UTC)
    # The day is the UTC day, whatever the offset of the clock that asks.
    same_instant = late_evening.astimezone(datetime.now().astimezone().tzinfo)
    assert retention.cutoff(same_instant, 30) == datetime(2026, 2, 8, tzinfo=UTC)


def test_rows_older_than_retention_go_and_newer_stay_at_a_partition_boundary(conn: psycopg.Connection) -> None:
    partitions.ensure(conn, [CUTOFF.date() - timedelta(days=1), CUTOFF.date()])
    expired = ingest(conn, [CUTOFF - timedelta(days=1), CUTOFF - timedelta(microseconds=1)])
    kept = ingest(conn, [CUTOFF, CUTOFF + timedelta(hours=23)])
    assert home(conn, expired[1]) == partitions.partition_name(CUTOFF.date() - timedelta(days=1))
    assert home(conn, kept[0]) == partitions.partition_name(CUTOFF.date())

    report = cleanup.run(conn, SETTINGS, NOW)

    assert stored(conn, expired) == (0, 0)
    assert stored(conn, kept) == (2, 2)
    assert report.partitions_dropped == [partitions.partition_name(CUTOFF.date() - timedelta(days=1))]
    assert report.partition_rows_dropped == 2


def test_rows_older_than_retention_go_and_newer_stay_in_the_default_partition(conn: psycopg.Connection) -> None:
    expired = ingest(conn, [CUTOFF - timedelta(days=3), CUTOFF - timedelta(microseconds=1)])
    kept = ingest(conn, [CUTOFF, CUTOFF + timedelta(days=2)])
    assert {home(conn, i) for i in expired + kept} == {DEFAULT}

    report = cleanup.run(conn, SETTINGS, NOW)

    assert stored(conn, expired) == (0, 0)
    assert stored(conn, kept) == (2, 2)
    assert report.default_rows_deleted == 2
    assert report.partitions_dropped == []
    # The kept rows were moved into partitions of their own days, to expire by a drop later.
    assert home(conn, kept[0]) == partitions.partition_name(CUTOFF.date())
    assert home(conn, kept[1]) == partitions.partition_name(CUTOFF.date() + timedelta(days=2))


def test_every_day_from_retention_ago_to_a_week_ahead_takes_inserts_before_and_after_cleanup(
    conn: psycopg.Connection,
) -> None:
    start = NOW - timedelta(days=SETTINGS.retention_days) + timedelta(minutes=1)
    stamps = [start + timedelta(days=n) for n in range(SETTINGS.retention_days + 8)]
    assert stamps[-1] >= NOW + timedelta(days=7)
    before = ingest(conn, stamps)

    cleanup.run(conn, SETTINGS, NOW)
    after = ingest(conn, stamps)

    assert stored(conn, before + after) == (len(stamps) * 2, len(stamps) * 2)
    # After cleanup every one of those days has its own partition: nothing lands in the default.
    assert [home(conn, i) for i in after if home(conn, i) == DEFAULT] == []


def test_a_second_run_finds_nothing_to_do(conn: psycopg.Connection) -> None:
    partitions.ensure(conn, [CUTOFF.date() - timedelta(days=2)])
    ingest(conn, [CUTOFF - timedelta(days=2), CUTOFF - timedelta(days=5), CUTOFF + timedelta(days=1)])
    first = cleanup.run(conn, SETTINGS, NOW)
    assert first.raw_rows_removed == 2
    listed = partitions.list_partitions(conn)

    second = cleanup.run(conn, SETTINGS, NOW)

    assert set(second.counts().values()) == {0}
    assert partitions.list_partitions(conn) == listed


def test_a_run_on_an_empty_database_is_a_no_op(conn: psycopg.Connection) -> None:
    listed = partitions.list_partitions(conn)
    report = cleanup.run(conn, RetentionSettings(), NOW)
    assert report.counts() == dict.fromkeys(report.counts(), 0)
    assert report.rollup_rows_trimmed == {"hourly": 0, "daily": 0}
    assert partitions.list_partitions(conn) == listed


def test_partitions_are_created_ahead_by_the_cleanup_too(conn: psycopg.Connection) -> None:
    report = cleanup.run(conn, SETTINGS.model_copy(update={"partitions_ahead_days": 9}), NOW)
    assert report.partitions_created == [partitions.partition_name(TODAY + timedelta(days=n)) for n in (8, 9)]


def test_rollups_older_than_their_retention_are_trimmed(conn: psycopg.Connection) -> None:
    rollup_cutoff = retention.cutoff(NOW, SETTINGS.rollup_retention_days)
    buckets = [rollup_cutoff - timedelta(days=1), rollup_cutoff - timedelta(hours=1), rollup_cutoff, NOW]
    for table in ("resilience_rollup_hourly", "resilience_rollup_daily"):
        for bucket in buckets:
            conn.execute(
                f"INSERT INTO {table} (bucket, component, signal, count, unique_users, unique_sessions)"
                " VALUES (%s, 'CheckoutForm', 'retry_success', 1, 1, 1)",
                (bucket,),
            )

    report = cleanup.run(conn, SETTINGS, NOW)

    assert report.rollup_rows_trimmed == {"hourly": 2, "daily": 2}
    for view, column in (("resilience_metrics_hourly", "hour"), ("resilience_metrics_daily", "day")):
        left = [r[0] for r in conn.execute(f"SELECT {column} FROM {view} ORDER BY 1")]
        assert left == [rollup_cutoff, NOW]


def add_alert(conn: psycopg.Connection, rule: str, state: str, started: datetime, resolved: datetime | None) -> int:
    row = conn.execute(
        """INSERT INTO alerts (rule, metric, state, severity, operator, value, threshold, numerator, denominator,
                               window_minutes, started_at, fired_at, resolved_at, evaluated_at)
           VALUES (%s, 'rollback_rate', %s, 'warning', 'gt', 9, 5, 9, 100, 60, %s, %s, %s, %s) RETURNING id""",
        (rule, state, started, started, resolved, resolved or started),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_resolved_alerts_older_than_their_retention_are_purged(conn: psycopg.Connection) -> None:
    alert_cutoff = retention.cutoff(NOW, SETTINGS.alert_retention_days)
    old_start = alert_cutoff - timedelta(days=10)
    gone = add_alert(conn, "a", "resolved", old_start, alert_cutoff - timedelta(seconds=1))
    recent = add_alert(conn, "b", "resolved", old_start, alert_cutoff)
    still_firing = add_alert(conn, "c", "firing", old_start, None)

    report = cleanup.run(conn, SETTINGS, NOW)

    assert report.alerts_purged == 1
    left = [r[0] for r in conn.execute("SELECT id FROM alerts ORDER BY id")]
    assert left == [recent, still_firing]
    assert gone not in left


def seed_old_partitions(conn: psycopg.Connection, days: list[int], rows_per_day: int) -> list[uuid.UUID]:
    """Partitions for the given days back from today, each with some rows."""
    partitions.ensure(conn, [TODAY - timedelta(days=n) for n in days])
    ids: list[uuid.UUID] = []
    for n in days:
        ids += ingest(conn, [days_back(n, 0) + timedelta(minutes=k) for k in range(rows_per_day)])
    return ids


def run_in_threads(*targets: Callable[[], Any]) -> list[BaseException]:
    """Runs each target on a thread of its own, all released together; returns what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def guarded(target: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    return errors


def test_cleanup_beside_live_ingest_and_refresh_loops_loses_no_row_and_fails_none(
    conn: psycopg.Connection, fresh_database_url: str
) -> None:
    runs = 5
    # Partitions that expire over the runs: ten at the first, one more at each after it.
    expired = seed_old_partitions(conn, list(range(40, 31 - runs, -1)), rows_per_day=50)
    expired += ingest(conn, [days_back(n) for n in range(45, 60)])  # in the default partition
    # What ingest writes stays within retention for every run: from the last run's cutoff to past
    # the partitions those runs create ahead, including days that have no partition yet.
    first_day, last_day = -(30 - runs), 7 + runs + 1
    accepted: list[uuid.UUID] = []
    batches_during_cleanup = 0
    cleaning = threading.Event()
    cleaned = threading.Event()
    reports: list[retention.CleanupReport] = []

    def ingest_loop() -> None:
        nonlocal batches_during_cleanup
        with connect(fresh_database_url) as mine:
            k = 0
            while not cleaned.is_set() or k < 20:
                day = first_day + k % (last_day - first_day + 1)
                stamps = [NOW + timedelta(days=day, seconds=j) for j in range(25)]
                during = cleaning.is_set() and not cleaned.is_set()
                accepted.extend(ingest(mine, stamps))
                batches_during_cleanup += during
                k += 1

    def cleanup_loop() -> None:
        with connect(fresh_database_url) as mine:
            cleaning.set()
            try:
                for k in range(runs):
                    reports.append(cleanup.run(mine, SETTINGS, NOW + timedelta(days=k)))
            finally:
                cleaned.set()

    refreshes_during_cleanup = 0

    def refresh_loop() -> None:
        nonlocal refreshes_during_cleanup
        with connect(fresh_database_url) as mine:
            while not cleaned.is_set():
                rollups.refresh(mine)
                refreshes_during_cleanup += cleaning.is_set() and not cleaned.is_set()

    errors = run_in_threads(ingest_loop, cleanup_loop, refresh_loop)

    assert errors == []
    assert batches_during_cleanup > 0
    assert refreshes_during_cleanup > 0
    assert stored(conn, accepted) == (len(accepted), len(accepted))
    final = cleanup.run(conn, SETTINGS, NOW + timedelta(days=runs - 1))
    assert stored(conn, expired) == (0, 0)
    assert stored(conn, accepted) == (len(accepted), len(accepted))
    assert final.partitions_deferred == []
    assert sum(len(r.partitions_dropped) for r in reports) + len(final.partitions_dropped) == 9 + runs
    # What the refreshes rolled up beside the cleanups is exact for every hour whose raw rows remain.
    hourly = conn.execute(
        "SELECT bucket, sum(count) FROM resilience_rollup_hourly WHERE bucket >= %s GROUP BY 1 ORDER BY 1",
        (final.raw_cutoff,),
    ).fetchall()
    raw = conn.execute(
        "SELECT date_trunc('hour', ts), count(*) FROM resilience_metrics WHERE ts >= %s GROUP BY 1 ORDER BY 1",
        (final.raw_cutoff,),
    ).fetchall()
    assert hourly == raw


def test_two_cleanups_at_once_share_the_work_without_doing_any_twice(
    conn: psycopg.Connection, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions, "DELETE_BATCH", 50)
    expired = seed_old_partitions(conn, list(range(40, 30, -1)), rows_per_day=20)
    in_default = ingest(conn, [days_back(45) + timedelta(seconds=k) for k in range(500)])
    strays = ingest(conn, [days_back(n) for n in range(20, 10, -1)])
    reports: list[retention.CleanupReport] = []

    def one_cleanup() -> None:
        with connect(fresh_database_url) as mine:
            reports.append(cleanup.run(mine, SETTINGS.model_copy(update={"partitions_ahead_days": 12}), NOW))

    assert run_in_threads(one_cleanup, one_cleanup) == []

    a, b = reports
    assert not set(a.partitions_dropped) & set(b.partitions_dropped)
    assert len(a.partitions_dropped) + len(b.partitions_dropped) == 10
    assert a.partition_rows_dropped + b.partition_rows_dropped == len(expired)
    assert a.default_rows_deleted + b.default_rows_deleted == len(in_default)
    assert not set(a.partitions_created) & set(b.partitions_created)
    assert len(a.partitions_created) + len(b.partitions_created) == 10 + 5
    assert a.partitions_deferred == b.partitions_deferred == []
    assert stored(conn, expired + in_default) == (0, 0)
    assert DEFAULT not in {home(conn, i) for i in strays}
    assert stored(conn, strays) == (10, 10)


def test_the_cleanup_function_logs_and_counts_what_it_removed(
    invoke: Callable[[str, dict[str, Any]], Any],
    db: psycopg.Connection,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    old = ingest(db, [days_back(200), days_back(150)])
    fresh = ingest(db, [NOW - timedelta(minutes=5)])
    capsys.readouterr()

    result = invoke("CleanupFunction", json.loads((ROOT / "events" / "cleanup.json").read_text()))

    assert result["default_rows_deleted"] == 2
    assert result["raw_rows_removed"] == 2
    assert stored(db, old) == (0, 0)
    assert stored(db, fresh) == (1, 1)
    # Powertools writes the metrics as one CloudWatch embedded-metric-format document per invocation.
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    declared = {m["Name"] for doc in documents for group in doc["_aws"]["CloudWatchMetrics"] for m in group["Metrics"]}
    values = {name: doc[name] for doc in documents for name in declared}
    assert values["RawRowsRemoved"] == [2.0]
    assert values["PartitionsDropped"] == [0.0]
    assert {"PartitionsCreated", "RollupRowsTrimmed", "ResolvedAlertsPurged"} <= declared
