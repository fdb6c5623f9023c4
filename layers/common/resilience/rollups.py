"""Hourly and daily rollups: incremental refresh of the buckets that got new rows, and trimming."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import psycopg

# Any constant will do; it only has to be the same for every refresh.
_LOCK_KEY = 0x7E512011

# Taking the pending hours and recomputing them happen under one lock and in one transaction:
# a concurrent refresh waits, then finds only what arrived after, so nothing is counted twice.
_LOCK = "SELECT pg_advisory_xact_lock(%s)"

_TAKE_PENDING = """
WITH taken AS (DELETE FROM resilience_rollup_pending RETURNING hour)
SELECT DISTINCT hour FROM taken ORDER BY hour
"""

# A bucket is recomputed whole from raw rows: distinct users and sessions cannot be added up.
_DELETE_HOURS = "DELETE FROM resilience_rollup_hourly WHERE bucket = ANY(%(buckets)s)"
_INSERT_HOURS = """
INSERT INTO resilience_rollup_hourly (bucket, component, signal, count, unique_users, unique_sessions)
SELECT b.bucket, m.component, m.signal, count(*), count(DISTINCT m.user_id), count(DISTINCT m.session_id)
FROM unnest(%(buckets)s::timestamptz[]) AS b(bucket)
JOIN resilience_metrics m ON m.ts >= b.bucket AND m.ts < b.bucket + interval '1 hour'
GROUP BY b.bucket, m.component, m.signal
"""
_DELETE_DAYS = "DELETE FROM resilience_rollup_daily WHERE bucket = ANY(%(buckets)s)"
_INSERT_DAYS = """
INSERT INTO resilience_rollup_daily (bucket, component, signal, count, unique_users, unique_sessions)
SELECT b.bucket, m.component, m.signal, count(*), count(DISTINCT m.user_id), count(DISTINCT m.session_id)
FROM unnest(%(buckets)s::timestamptz[]) AS b(bucket)
JOIN resilience_metrics m ON m.ts >= b.bucket AND m.ts < b.bucket + interval '1 day'
GROUP BY b.bucket, m.component, m.signal
"""

_TRIM_HOURLY = "DELETE FROM resilience_rollup_hourly WHERE bucket < %s"
_TRIM_DAILY = "DELETE FROM resilience_rollup_daily WHERE bucket < %s"
_TRIM_PENDING = "DELETE FROM resilience_rollup_pending WHERE hour < %s"


@dataclass(frozen=True)
class RefreshResult:
    hours: int
    days: int
    hourly_rows: int
    daily_rows: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _day(hour: datetime) -> datetime:
    return hour.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def refresh(conn: psycopg.Connection) -> RefreshResult:
    """Recomputes the hours that got rows since the last refresh, and the days they fall in."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_LOCK, (_LOCK_KEY,))
        hours = [row[0] for row in cur.execute(_TAKE_PENDING)]
        if not hours:
            return RefreshResult(0, 0, 0, 0)
        days = sorted({_day(h) for h in hours})
        cur.execute(_DELETE_HOURS, {"buckets": hours})
        cur.execute(_INSERT_HOURS, {"buckets": hours})
        hourly_rows = cur.rowcount
        cur.execute(_DELETE_DAYS, {"buckets": days})
        cur.execute(_INSERT_DAYS, {"buckets": days})
        daily_rows = cur.rowcount
    return RefreshResult(len(hours), len(days), hourly_rows, daily_rows)


def trim(conn: psycopg.Connection, before: datetime) -> dict[str, int]:
    """Deletes rollup buckets that start before `before`; returns the rows deleted per table."""
    with conn.transaction(), conn.cursor() as cur:
        hourly = cur.execute(_TRIM_HOURLY, (before,)).rowcount
        daily = cur.execute(_TRIM_DAILY, (before,)).rowcount
        cur.execute(_TRIM_PENDING, (before,))
    return {"hourly": hourly, "daily": daily}
