"""Retention: dropping one day's partition against DELETE + VACUUM of the same rows on an unpartitioned
table (time and WAL), and ingest latency while cleanup runs against ingest latency without it."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import psycopg
from psycopg import sql

from bench.harness import Bench, Row
from resilience import retention
from resilience.jobs import cleanup
from resilience.settings import RetentionSettings
from resilience.store import partitions
from resilience.store.telemetry import insert_events
from resilience.telemetry import StoredEvent
from resilience.windows import day_start

T = TypeVar("T")

AREA = "retention"
DAYS = 30
MEASURED_DAYS = 3
INGEST_BATCH = 100

# Loaded server side, a day at a time, into a table of its own that is indexed once full and then
# attached as that day's partition: much faster than inserting through the indexes row by row.
_STAGE = "CREATE TABLE {} (LIKE resilience_metrics INCLUDING DEFAULTS)"
_ATTACH = "ALTER TABLE resilience_metrics ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})"
_LOAD_DAY = """
INSERT INTO {} (id, ts, user_id, session_id, component, signal, data)
SELECT gen_random_uuid(),
       %(start)s::timestamptz + random() * interval '1 day',
       CASE WHEN i %% 4 = 0 THEN NULL ELSE md5((i %% 20000)::text)::uuid END,
       'sess-' || (i %% 50000),
       (ARRAY['CheckoutForm', 'Cart', 'Search', 'Profile', 'Feed', 'Settings'])[1 + i %% 6],
       (ARRAY['optimistic_action_start', 'optimistic_action_success', 'optimistic_action_rollback',
              'retry_attempt', 'retry_success', 'retry_failure', 'error_boundary_triggered',
              'error_boundary_recovered'])[1 + i %% 8],
       jsonb_build_object('latency_ms', i %% 900, 'attempt', 1 + i %% 3)
FROM generate_series(1, %(rows)s) AS i
"""

# The original design: one table with the same columns and indexes, no partitions; filled first
# and indexed after, with the index definitions LIKE ... INCLUDING ALL derives from the parent's.
_FLAT = "CREATE TABLE flat_metrics (LIKE resilience_metrics INCLUDING ALL)"
_FLAT_INDEXES = """
SELECT c.relname, pg_get_indexdef(i.indexrelid), con.conname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid
WHERE i.indrelid = 'flat_metrics'::regclass
"""
_FILL_FLAT = "INSERT INTO flat_metrics SELECT * FROM resilience_metrics"
_DELETE_DAY = "DELETE FROM flat_metrics WHERE ts >= %s AND ts < %s"
_WAL = "SELECT pg_current_wal_lsn()"
_WAL_SINCE = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint"


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, options="-c timezone=UTC")


def _load_partition(conn: psycopg.Connection, day: date, rows: int) -> None:
    name = sql.Identifier(partitions.partition_name(day))
    lo, hi = day_start(day), day_start(day + timedelta(days=1))
    conn.execute(sql.SQL(_STAGE).format(name))
    conn.execute(sql.SQL(_LOAD_DAY).format(name), {"start": lo, "rows": rows})
    conn.execute(sql.SQL(_ATTACH).format(name, sql.Literal(lo), sql.Literal(hi)))


def _load_flat(conn: psycopg.Connection) -> None:
    conn.execute(_FLAT)
    indexes = conn.execute(_FLAT_INDEXES).fetchall()
    for index, _, constraint in indexes:
        if constraint:
            conn.execute(sql.SQL("ALTER TABLE flat_metrics DROP CONSTRAINT {}").format(sql.Identifier(constraint)))
        else:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index)))
    conn.execute(_FILL_FLAT)
    for index, definition, constraint in indexes:
        conn.execute(definition)
        if constraint:
            conn.execute(
                sql.SQL("ALTER TABLE flat_metrics ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}").format(
                    sql.Identifier(constraint), sql.Identifier(index)
                )
            )


def _load(conn: psycopg.Connection, days: list[date], rows_per_day: int) -> None:
    # The install created yesterday's partition empty; it is loaded like the others.
    for existing in partitions.list_partitions(conn):
        if existing.start < day_start(days[-1] + timedelta(days=1)):
            partitions.drop(conn, existing)
    for day in days:
        _load_partition(conn, day, rows_per_day)
    _load_flat(conn)
    # Steady state for both layouts, as autovacuum leaves tables days after their last change:
    # hint bits set, visibility maps built, statistics current.
    conn.execute("VACUUM ANALYZE flat_metrics")
    conn.execute("VACUUM ANALYZE resilience_metrics")
    conn.execute("ALTER TABLE flat_metrics SET (autovacuum_enabled = false)")


def _measured(conn: psycopg.Connection, work: Callable[[], T]) -> tuple[T, float, int]:
    """What work returned, its seconds and the WAL bytes it wrote.

    It starts right after a checkpoint, as a daily job runs long after the rows it removes changed.
    """
    conn.execute("CHECKPOINT")
    lsn = conn.execute(_WAL).fetchone()[0]  # type: ignore[index]
    start = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - start
    return result, elapsed, int(conn.execute(_WAL_SINCE, (lsn,)).fetchone()[0])  # type: ignore[index]


def _drop_vs_delete(conn: psycopg.Connection, days: list[date], judged: bool) -> list[Row]:
    """Removes whole days both ways; judged says whether the data is the size the targets name."""
    by_name = {p.name: p for p in partitions.list_partitions(conn)}
    drop_s: list[float] = []
    delete_s: list[float] = []
    vacuum_s: list[float] = []
    drop_wal: list[int] = []
    delete_wal: list[int] = []
    vacuum_wal: list[int] = []
    rows: list[int] = []
    for day in days:
        lo, hi = day_start(day), day_start(day + timedelta(days=1))
        part = by_name[partitions.partition_name(day)]
        removed, s, w = _measured(conn, lambda: partitions.drop(conn, part))  # noqa: B023 - called at once
        drop_s.append(s)
        drop_wal.append(w)
        deleted, s, w = _measured(conn, lambda: conn.execute(_DELETE_DAY, (lo, hi)).rowcount)  # noqa: B023
        delete_s.append(s)
        delete_wal.append(w)
        assert deleted == removed, "both layouts hold the same rows"
        rows.append(deleted)
        _, s, w = _measured(conn, lambda: conn.execute("VACUUM flat_metrics"))
        vacuum_s.append(s)
        vacuum_wal.append(w)
    per_day = int(statistics.median(rows))
    drop_t, drop_b = statistics.median(drop_s), statistics.median(drop_wal)
    del_t, del_b = statistics.median(delete_s), statistics.median(delete_wal)
    vac_t, vac_b = statistics.median(vacuum_s), statistics.median(vacuum_wal)
    base_t, base_b = del_t + vac_t, del_b + vac_b
    note = (
        f"one day of {per_day:,} rows, median of {len(days)} days; baseline = DELETE "
        f"({del_t * 1000:.0f} ms, {del_b / 1e6:.1f} MB WAL) + VACUUM ({vac_t * 1000:.0f} ms, "
        f"{vac_b / 1e6:.1f} MB WAL) of the same rows in one unpartitioned table of the same data"
    )
    return [
        Row(
            AREA,
            "drop one day's partition: time",
            drop_t * 1000,
            "ms",
            "DELETE + VACUUM (unpartitioned)",
            base_t * 1000,
            ">= 20x faster" if judged else ">= 20x faster at size large",
            base_t >= 20 * drop_t if judged else None,
            note,
        ),
        Row(
            AREA,
            "drop one day's partition: WAL written",
            drop_b,
            "bytes",
            "DELETE + VACUUM (unpartitioned)",
            base_b,
            ">= 100x less" if judged else ">= 100x less at size large",
            base_b >= 100 * max(drop_b, 1) if judged else None,
            "WAL measured as pg_current_wal_lsn() differences",
        ),
    ]


def _ingest(conn: psycopg.Connection, batches: int = 0, until: threading.Event | None = None) -> list[float]:
    """Seconds per batch of INGEST_BATCH events stored by the ingest path's insert.

    As many batches as asked, and then every batch that starts before `until` is set.
    """
    latencies: list[float] = []
    while len(latencies) < batches or (until is not None and not until.is_set()):
        now = datetime.now(UTC)
        events = [
            StoredEvent(
                str(uuid.uuid4()),
                now - timedelta(seconds=j),
                None,
                f"sess-{j}",
                "CheckoutForm",
                "retry_success",
                '{"latency_ms": 12}',
            )
            for j in range(INGEST_BATCH)
        ]
        start = time.perf_counter()
        with conn.transaction():
            insert_events(conn, events)
        latencies.append(time.perf_counter() - start)
    return latencies


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _ingest_during_cleanup(url: str, quiet_batches: int, cleanup_runs: int) -> list[Row]:
    """Ingest latency beside cleanup runs against ingest latency alone.

    Windows of each alternate, so a change in the machine's load hits both sides alike.
    """
    # Each run, a day later than the last, drops the oldest day's partition and creates one ahead.
    settings = RetentionSettings.model_validate({"retention_days": DAYS - MEASURED_DAYS - 1})
    quiet: list[float] = []
    busy: list[float] = []
    report: list[retention.CleanupReport] = []
    failures: list[BaseException] = []
    with _connect(url) as ingest_conn, _connect(url) as cleanup_conn:
        for k in range(cleanup_runs):
            quiet += _ingest(ingest_conn, quiet_batches)
            done = threading.Event()

            def run_cleanup(k: int = k, done: threading.Event = done) -> None:
                try:
                    report.append(cleanup.run(cleanup_conn, settings, datetime.now(UTC) + timedelta(days=k)))
                except BaseException as exc:
                    failures.append(exc)
                finally:
                    done.set()

            thread = threading.Thread(target=run_cleanup)
            thread.start()
            busy += _ingest(ingest_conn, until=done)
            thread.join()
            if failures:
                raise failures[0]
    dropped = sum(len(r.partitions_dropped) for r in report)
    created = sum(len(r.partitions_created) for r in report)
    note = (
        f"{len(busy)} batches of {INGEST_BATCH} events during {cleanup_runs} cleanup runs (which dropped {dropped} "
        f"partitions and created {created}), against {len(quiet)} batches in windows between them"
    )
    q50, b50 = statistics.median(quiet), statistics.median(busy)
    q95, b95 = _p95(quiet), _p95(busy)
    return [
        Row(
            AREA,
            "ingest batch latency during cleanup (median)",
            b50 * 1000,
            "ms",
            "no cleanup running",
            q50 * 1000,
            "within 2x",
            b50 <= 2 * q50,
            note,
        ),
        Row(
            AREA,
            "ingest batch latency during cleanup (p95)",
            b95 * 1000,
            "ms",
            "no cleanup running",
            q95 * 1000,
            "",
            None,
            f"worst batch {max(busy) * 1000:.0f} ms vs {max(quiet) * 1000:.0f} ms",
        ),
    ]


def run(bench: Bench) -> list[Row]:
    rows_per_day = bench.pick(quick=20_000, large=333_334)
    url = bench.fresh_database()
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
    with _connect(url) as conn:
        _load(conn, days, rows_per_day)
        rows = _drop_vs_delete(conn, days[:MEASURED_DAYS], judged=bench.size == "large")
        conn.execute("DROP TABLE flat_metrics")
    rows += _ingest_during_cleanup(url, quiet_batches=30, cleanup_runs=bench.pick(5, 10))
    return rows
