"""Signal counts over a window (rollups for closed hours, raw rows for the rest) and per hour or day."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from resilience.history import MAX_SERIES_POINTS, Granularity, SeriesPoint, SeriesTooLarge
from resilience.windows import Window

# resilience_signal_counts (migrations/002_rollups.sql) reads whole clean days and hours from the
# rollups and everything else from raw rows, in one statement, so the answer is one snapshot.
_COUNTS = "SELECT component, signal, count FROM resilience_signal_counts(%s, %s, %s, %s)"


def signal_counts(
    conn: psycopg.Connection,
    window: Window,
    *,
    component: str | None = None,
    by_component: bool = False,
) -> dict[str, Any]:
    """Signals counted over [window.start, window.end): signal -> n, or component -> signal -> n.

    Exact as of the moment of the call, including rows not yet rolled up.
    """
    rows = conn.execute(_COUNTS, (window.start, window.end, component, by_component)).fetchall()
    if by_component:
        nested: dict[str, dict[str, int]] = {}
        for comp, signal, n in rows:
            nested.setdefault(comp, {})[signal] = int(n)
        return nested
    flat: dict[str, int] = {}
    for _, signal, n in rows:
        flat[signal] = flat.get(signal, 0) + int(n)
    return flat


# Whole buckets overlapping the window: clean ones from the rollup, those with rows still pending
# a refresh recomputed from raw rows (one index range scan each), so the newest bucket is as fresh
# as the data.
_SERIES = """
WITH dirty AS MATERIALIZED (
    SELECT DISTINCT date_trunc({unit}, p.hour, 'UTC') AS bucket
    FROM resilience_rollup_pending p
    WHERE p.hour >= %(lo)s AND p.hour < %(hi)s
)
SELECT r.bucket, r.component, r.signal, r.count, r.unique_users, r.unique_sessions
FROM {rollup} r
WHERE r.bucket >= %(lo)s AND r.bucket < %(hi)s
  AND r.bucket NOT IN (SELECT bucket FROM dirty)
  AND (%(component)s::text IS NULL OR r.component = %(component)s)
  AND (%(signal)s::text IS NULL OR r.signal = %(signal)s)
UNION ALL
SELECT d.bucket, m.component, m.signal, count(*), count(DISTINCT m.user_id), count(DISTINCT m.session_id)
FROM dirty d
CROSS JOIN LATERAL (
    SELECT component, signal, user_id, session_id FROM resilience_metrics
    WHERE ts >= d.bucket AND ts < d.bucket + %(step)s
      AND (%(component)s::text IS NULL OR component = %(component)s)
      AND (%(signal)s::text IS NULL OR signal = %(signal)s)
    OFFSET 0
) m
GROUP BY d.bucket, m.component, m.signal
ORDER BY 1, 2, 3
LIMIT %(limit)s
"""

_POINT = list(SeriesPoint.model_fields)
_ROLLUP_TABLE = {Granularity.HOUR: "resilience_rollup_hourly", Granularity.DAY: "resilience_rollup_daily"}


def series(
    conn: psycopg.Connection,
    window: Window,
    granularity: Granularity,
    *,
    component: str | None = None,
    signal: str | None = None,
    max_points: int = MAX_SERIES_POINTS,
) -> list[SeriesPoint]:
    """Counts and unique users/sessions per bucket, component and signal, oldest bucket first."""
    query = sql.SQL(_SERIES).format(
        unit=sql.Literal(granularity.value), rollup=sql.Identifier(_ROLLUP_TABLE[granularity])
    )
    params = {
        "lo": granularity.floor(window.start),
        "hi": window.end,
        "step": granularity.step,
        "component": component,
        "signal": signal,
        "limit": max_points + 1,
    }
    rows = conn.execute(query, params).fetchall()
    if len(rows) > max_points:
        raise SeriesTooLarge(f"more than {max_points} points; narrow the window or filter by component or signal")
    # Read from the tables, so valid: built without validating.
    return [SeriesPoint.model_construct(**dict(zip(_POINT, row, strict=True))) for row in rows]
