"""Signal counts over a window (rollups for closed hours, raw rows for the rest) and per hour or day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from resilience.history import MAX_SERIES_POINTS, Granularity, SeriesPoint, SeriesTooLarge
from resilience.windows import Window

# resilience_signal_counts (migrations/010_counts_without_planning.sql, first in 002) reads whole clean
# days and hours from the rollups and everything else from raw rows, in one statement, so the answer
# is one snapshot.
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


# Windows ending together are runs of adjacent slices, newest first: each slice is counted once,
# all in one statement (one snapshot), and each window is the sum of the slices it spans.
_SLICES = """
SELECT s.slice, c.component, c.signal, c.count
FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS s(start_time, end_time, slice)
CROSS JOIN LATERAL resilience_signal_counts(s.start_time, s.end_time, NULL, %s) c
"""


def windows_counts(
    conn: psycopg.Connection, windows: Sequence[Window], *, by_component: bool = False
) -> list[dict[str, Any]]:
    """What signal_counts answers for each of these windows, which must all end together; counted in one go.

    Time that several windows cover is counted once, so long windows cost little more than the
    longest alone.
    """
    if len({w.end for w in windows}) > 1:
        raise ValueError("windows counted together must end at the same moment")
    starts = sorted({w.start for w in windows}, reverse=True)
    if not starts:
        return []
    end = windows[0].end
    ends = [end, *starts[:-1]]
    slices: list[dict[str, Any]] = [{} for _ in starts]
    for slice_no, comp, signal, n in conn.execute(_SLICES, (starts, ends, by_component)).fetchall():
        counts = slices[slice_no - 1].setdefault(comp, {}) if by_component else slices[slice_no - 1]
        counts[signal] = counts.get(signal, 0) + int(n)
    summed: dict[Any, dict[str, Any]] = {}
    running: dict[str, Any] = {}
    for start, counted in zip(starts, slices, strict=True):
        running = _added(running, counted, nested=by_component)
        summed[start] = running
    return [summed[w.start] for w in windows]


def _added(a: Mapping[str, Any], b: Mapping[str, Any], *, nested: bool) -> dict[str, Any]:
    """The counts of two stretches of time together (signal -> n, or component -> signal -> n)."""
    total = {key: dict(value) if nested else value for key, value in a.items()}
    for key, value in b.items():
        if nested:
            total[key] = _added(total.get(key, {}), value, nested=False)
        else:
            total[key] = total.get(key, 0) + value
    return total


def totals(per_component: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Counts per component summed over the components: what signal_counts answers for all of them."""
    summed: dict[str, int] = {}
    for counts in per_component.values():
        for signal, n in counts.items():
            summed[signal] = summed.get(signal, 0) + n
    return summed


# Whole buckets overlapping the window, as fresh as the data: clean buckets from the rollup; buckets
# with rows still pending a refresh, on tracked days, as the rollup plus what those rows add
# (resilience_rollup_additions: their count, and the users and sessions not seen in the bucket
# yet); on older days recomputed from raw rows (resilience_rollup_recompute). Both functions are
# those of the refresh (migrations/006_incremental_uniques.sql), so the series and the rollups
# it becomes agree.
_SERIES = """
WITH dirty AS MATERIALIZED (
    SELECT bucket, resilience_rollup_is_tracked(date_bin('1 day', bucket, timestamptz '2000-01-01 00:00+00')) AS tracked
    FROM (
        SELECT DISTINCT date_bin(%(step)s, p.hour, timestamptz '2000-01-01 00:00+00') AS bucket
        FROM resilience_rollup_pending p
        WHERE p.hour >= %(lo)s AND p.hour < %(hi)s
    ) b
),
rolled AS (
    SELECT r.bucket, r.component, r.signal, r.count, r.unique_users, r.unique_sessions
    FROM {rollup} r
    WHERE r.bucket >= %(lo)s AND r.bucket < %(hi)s
      AND (%(component)s::text IS NULL OR r.component = %(component)s)
      AND (%(signal)s::text IS NULL OR r.signal = %(signal)s)
),
added AS (
    SELECT a.bucket, a.component, a.signal, a.count, a.new_users, a.new_sessions
    FROM dirty d
    CROSS JOIN LATERAL resilience_rollup_additions(d.bucket, d.bucket + %(step)s) a
    WHERE d.tracked AND a.unit = {unit}
      AND (%(component)s::text IS NULL OR a.component = %(component)s)
      AND (%(signal)s::text IS NULL OR a.signal = %(signal)s)
)
SELECT r.* FROM rolled r WHERE r.bucket NOT IN (SELECT bucket FROM dirty)
UNION ALL
SELECT bucket, component, signal, coalesce(r.count, 0) + coalesce(a.count, 0),
       coalesce(r.unique_users, 0) + coalesce(a.new_users, 0),
       coalesce(r.unique_sessions, 0) + coalesce(a.new_sessions, 0)
FROM (SELECT * FROM rolled WHERE bucket IN (SELECT bucket FROM dirty WHERE tracked)) r
FULL JOIN added a USING (bucket, component, signal)
UNION ALL
SELECT r.*
FROM dirty d
CROSS JOIN LATERAL resilience_rollup_recompute(%(step)s, d.bucket, d.bucket + %(step)s) r
WHERE NOT d.tracked
  AND (%(component)s::text IS NULL OR r.component = %(component)s)
  AND (%(signal)s::text IS NULL OR r.signal = %(signal)s)
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
