"""Hourly and daily rollups: incremental refresh of the buckets that got new rows, and trimming."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import psycopg

from resilience.store import locks

# Taking the pending counts and recomputing their buckets happen under one lock: a concurrent
# refresh waits, then finds only what arrived after, so nothing is counted twice.
LOCK = 0x7E512011

_WORK_MEM = "SET LOCAL work_mem = '64MB'"

# Dropped at commit: no state outlives the transaction, so the connection can go back to a
# transaction-pooling proxy's pool afterwards.
_FRESH_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS rollup_fresh_hourly (LIKE resilience_rollup_hourly) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS rollup_fresh_daily (LIKE resilience_rollup_daily) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS rollup_fresh_slices (LIKE resilience_rollup_signal_slices) ON COMMIT DROP;
DELETE FROM rollup_fresh_hourly;
DELETE FROM rollup_fresh_daily;
DELETE FROM rollup_fresh_slices
"""

# One statement, so one snapshot: the pending counts it deletes are exactly those of the raw rows
# it recomputes from; rows committed meanwhile keep their pending counts for the next refresh.
# A bucket is recomputed whole from raw rows, since distinct users and sessions cannot be added up;
# LATERAL ... OFFSET 0 (never flattened into a join) keeps it to one index range scan per bucket,
# whatever the planner guesses of their number, so the cost follows the buckets, not the table.
_TAKE_AND_RECOMPUTE = """
WITH taken AS (
    DELETE FROM resilience_rollup_pending RETURNING hour
),
taken_totals AS (
    DELETE FROM resilience_rollup_pending_signal
),
hours AS (
    SELECT DISTINCT hour AS bucket FROM taken
),
days AS (
    SELECT DISTINCT date_trunc('day', bucket, 'UTC') AS bucket FROM hours
),
fresh_hours AS (
    INSERT INTO rollup_fresh_hourly
    SELECT h.bucket, m.component, m.signal, count(*), count(DISTINCT m.user_id), count(DISTINCT m.session_id)
    FROM hours h
    CROSS JOIN LATERAL (
        SELECT component, signal, user_id, session_id FROM resilience_metrics
        WHERE ts >= h.bucket AND ts < h.bucket + interval '1 hour'
        OFFSET 0
    ) m
    GROUP BY h.bucket, m.component, m.signal
),
fresh_slices AS (
    INSERT INTO rollup_fresh_slices
    SELECT date_bin('5 minutes', m.ts, timestamptz '2000-01-01 00:00+00'), m.signal, count(*)
    FROM hours h
    CROSS JOIN LATERAL (
        SELECT ts, signal FROM resilience_metrics
        WHERE ts >= h.bucket AND ts < h.bucket + interval '1 hour'
        OFFSET 0
    ) m
    GROUP BY 1, 2
)
INSERT INTO rollup_fresh_daily
SELECT d.bucket, m.component, m.signal, count(*), count(DISTINCT m.user_id), count(DISTINCT m.session_id)
FROM days d
CROSS JOIN LATERAL (
    SELECT component, signal, user_id, session_id FROM resilience_metrics
    WHERE ts >= d.bucket AND ts < d.bucket + interval '1 day'
    OFFSET 0
) m
GROUP BY d.bucket, m.component, m.signal
"""

# Buckets with no raw rows left (their partition already dropped) keep their history.
_DELETE_HOURS = "DELETE FROM resilience_rollup_hourly WHERE bucket IN (SELECT bucket FROM rollup_fresh_hourly)"
_INSERT_HOURS = "INSERT INTO resilience_rollup_hourly SELECT * FROM rollup_fresh_hourly"
_DELETE_DAYS = "DELETE FROM resilience_rollup_daily WHERE bucket IN (SELECT bucket FROM rollup_fresh_daily)"
_INSERT_DAYS = "INSERT INTO resilience_rollup_daily SELECT * FROM rollup_fresh_daily"
# Slices of a recomputed hour replace all of that hour's slices.
_DELETE_SLICES = """
DELETE FROM resilience_rollup_signal_slices
WHERE date_trunc('hour', bucket, 'UTC') IN (SELECT bucket FROM rollup_fresh_hourly)
"""
_INSERT_SLICES = "INSERT INTO resilience_rollup_signal_slices SELECT * FROM rollup_fresh_slices"
_FRESH_BUCKETS = """
SELECT (SELECT array_agg(DISTINCT bucket) FROM rollup_fresh_hourly),
       (SELECT array_agg(DISTINCT bucket) FROM rollup_fresh_daily)
"""

# The all-components totals follow from the per-component rows just written.
_DELETE_SIGNAL_HOURS = "DELETE FROM resilience_rollup_signal_hourly WHERE bucket = ANY(%(buckets)s)"
_INSERT_SIGNAL_HOURS = """
INSERT INTO resilience_rollup_signal_hourly (bucket, signal, count)
SELECT bucket, signal, sum(count) FROM resilience_rollup_hourly WHERE bucket = ANY(%(buckets)s) GROUP BY bucket, signal
"""
_DELETE_SIGNAL_DAYS = "DELETE FROM resilience_rollup_signal_daily WHERE bucket = ANY(%(buckets)s)"
_INSERT_SIGNAL_DAYS = """
INSERT INTO resilience_rollup_signal_daily (bucket, signal, count)
SELECT bucket, signal, sum(count) FROM resilience_rollup_daily WHERE bucket = ANY(%(buckets)s) GROUP BY bucket, signal
"""

_OLDEST_PENDING_HOUR = "SELECT min(hour) FROM resilience_rollup_pending"

_TRIM_HOURLY = "DELETE FROM resilience_rollup_hourly WHERE bucket < %s"
_TRIM_DAILY = "DELETE FROM resilience_rollup_daily WHERE bucket < %s"
_TRIM_SIGNAL_HOURLY = "DELETE FROM resilience_rollup_signal_hourly WHERE bucket < %s"
_TRIM_SIGNAL_DAILY = "DELETE FROM resilience_rollup_signal_daily WHERE bucket < %s"
_TRIM_SLICES = "DELETE FROM resilience_rollup_signal_slices WHERE bucket < %s"
_TRIM_PENDING = "DELETE FROM resilience_rollup_pending WHERE hour < %s"
_TRIM_PENDING_TOTALS = "DELETE FROM resilience_rollup_pending_signal WHERE hour < %s"


@dataclass(frozen=True)
class RefreshResult:
    hours: int
    days: int
    hourly_rows: int
    daily_rows: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def refresh(conn: psycopg.Connection) -> RefreshResult:
    """Recomputes the hours that got rows since the last refresh, and the days they fall in."""
    with conn.transaction(), conn.cursor() as cur:
        locks.wait_for(conn, LOCK)
        # A whole day's distinct users and sessions are sorted in memory rather than on disk.
        cur.execute(_WORK_MEM)
        cur.execute(_FRESH_TABLES)
        cur.execute(_TAKE_AND_RECOMPUTE)
        hours, days = cur.execute(_FRESH_BUCKETS).fetchone() or (None, None)
        hours, days = hours or [], days or []
        if not hours:
            return RefreshResult(0, 0, 0, 0)
        cur.execute(_DELETE_HOURS)
        hourly_rows = cur.execute(_INSERT_HOURS).rowcount
        cur.execute(_DELETE_DAYS)
        daily_rows = cur.execute(_INSERT_DAYS).rowcount
        cur.execute(_DELETE_SLICES)
        cur.execute(_INSERT_SLICES)
        cur.execute(_DELETE_SIGNAL_HOURS, {"buckets": hours})
        cur.execute(_INSERT_SIGNAL_HOURS, {"buckets": hours})
        cur.execute(_DELETE_SIGNAL_DAYS, {"buckets": days})
        cur.execute(_INSERT_SIGNAL_DAYS, {"buckets": days})
    return RefreshResult(len(hours), len(days), hourly_rows, daily_rows)


def oldest_pending_hour(conn: psycopg.Connection) -> datetime | None:
    """The start of the oldest hour with rows not yet rolled up, or None when nothing waits."""
    row = conn.execute(_OLDEST_PENDING_HOUR).fetchone()
    return row[0] if row else None


def trim(conn: psycopg.Connection, before: datetime) -> dict[str, int]:
    """Deletes rollup buckets that start before `before`; returns the rows deleted per table."""
    with conn.transaction(), conn.cursor() as cur:
        hourly = cur.execute(_TRIM_HOURLY, (before,)).rowcount
        daily = cur.execute(_TRIM_DAILY, (before,)).rowcount
        cur.execute(_TRIM_SIGNAL_HOURLY, (before,))
        cur.execute(_TRIM_SIGNAL_DAILY, (before,))
        cur.execute(_TRIM_SLICES, (before,))
        cur.execute(_TRIM_PENDING, (before,))
        cur.execute(_TRIM_PENDING_TOTALS, (before,))
    return {"hourly": hourly, "daily": daily}
