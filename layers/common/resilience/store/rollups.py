"""Hourly and daily rollups: the incremental refresh, its parallel rebuilds of older days, and trimming.

The refresh itself is SQL (migrations/006_incremental_uniques.sql; its member sets and their start,
track and finish steps as restated in 012_hour_sets_and_day_bitmaps.sql), so `SELECT
refresh_resilience_metrics_views()` runs the same refresh; this module adds what SQL alone cannot:
rebuilding several older days at once, on connections of their own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg

# A first refresh over existing data rebuilds every day outside the tracked window from raw rows;
# each is an independent read, so this many other connections rebuild days beside the refresh's
# own (three processes, as many as a parallel query of Postgres's defaults uses).
PARALLEL_REBUILDS = 2
# Enough to hash one day's (bucket, component, signal, member) keys in memory.
_REBUILD_WORK_MEM = "SET work_mem = '64MB'"

_START = "SELECT resilience_rollup_refresh_start()"
_REBUILD = """
SELECT %(day)s::timestamptz, r.snapshot::text, r.unit, r.bucket, r.component, r.signal,
       r.count, r.unique_users, r.unique_sessions
FROM resilience_rollup_rebuild(%(day)s) r
"""
_REBUILD_HERE = "INSERT INTO rollup_rebuilt SELECT %(day)s, r.* FROM resilience_rollup_rebuild(%(day)s) r"
_TRACK = "SELECT resilience_rollup_refresh_track()"
_LOAD_REBUILT = "COPY rollup_rebuilt FROM STDIN"
_FINISH = "SELECT hours, days, hourly_rows, daily_rows FROM resilience_rollup_refresh_finish()"

_LOCK = "SELECT resilience_rollup_lock()"
_TRIM = {
    "hourly": "DELETE FROM resilience_rollup_hourly WHERE bucket < %s",
    "daily": "DELETE FROM resilience_rollup_daily WHERE bucket < %s",
    "signal_hourly": "DELETE FROM resilience_rollup_signal_hourly WHERE bucket < %s",
    "signal_daily": "DELETE FROM resilience_rollup_signal_daily WHERE bucket < %s",
    "slices": "DELETE FROM resilience_rollup_signal_slices WHERE bucket < %s",
    "pending": "DELETE FROM resilience_rollup_pending WHERE hour < %s",
    "pending_totals": "DELETE FROM resilience_rollup_pending_signal WHERE hour < %s",
    "pending_rows": "DELETE FROM resilience_rollup_pending_rows WHERE ts < %s",
}

_OLDEST_PENDING_HOUR = "SELECT min(hour) FROM resilience_rollup_pending"

Connect = Callable[[], psycopg.Connection]


@dataclass(frozen=True)
class RefreshResult:
    hours: int
    days: int
    hourly_rows: int
    daily_rows: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _days(queue: deque[datetime]) -> Iterator[datetime]:
    """Takes days off a queue that other threads take from too, until it is empty."""
    while True:
        try:
            yield queue.popleft()
        except IndexError:
            return


def _rebuild_elsewhere(connect: Connect, queue: deque[datetime]) -> list[tuple[Any, ...]]:
    """Rebuilds days off the queue on a connection of its own; returns their rows."""
    rows: list[tuple[Any, ...]] = []
    with connect() as conn:
        conn.execute(_REBUILD_WORK_MEM)
        for day in _days(queue):
            rows += conn.execute(_REBUILD, {"day": day}).fetchall()
    return rows


def _rebuild_in_parallel(cur: psycopg.Cursor[Any], connect: Connect, days: list[datetime]) -> None:
    """Rebuilds days on connections of their own while this one tracks the newest days, then takes
    its share of the rest; loads the other connections' rows here."""
    queue = deque(days)
    with ThreadPoolExecutor(max_workers=PARALLEL_REBUILDS) as pool:
        elsewhere = [pool.submit(_rebuild_elsewhere, connect, queue) for _ in range(PARALLEL_REBUILDS)]
        try:
            cur.execute(_TRACK)
            for day in _days(queue):
                cur.execute(_REBUILD_HERE, {"day": day})
        except BaseException:
            queue.clear()  # the other connections stop after their current day
            raise
        with cur.copy(_LOAD_REBUILT) as copy:
            for future in elsewhere:
                for row in future.result():
                    copy.write_row(row)


def refresh(conn: psycopg.Connection, connect: Connect | None = None) -> RefreshResult:
    """Rolls up every row stored since the last refresh, exactly; concurrent refreshes wait their turn.

    Tracked (recent) days cost their new rows; older days that got rows are rebuilt from raw rows,
    on `connect`'s connections, several at once, when it is given.
    """
    with conn.transaction(), conn.cursor() as cur:
        days = [row[0] for row in cur.execute(_START).fetchall()]
        if connect is not None and len(days) > 1:
            _rebuild_in_parallel(cur, connect, days)
        row = cur.execute(_FINISH).fetchone()
    assert row is not None
    return RefreshResult(*(int(n) for n in row))


def oldest_pending_hour(conn: psycopg.Connection) -> datetime | None:
    """The start of the oldest hour with rows not yet rolled up, or None when nothing waits."""
    row = conn.execute(_OLDEST_PENDING_HOUR).fetchone()
    return row[0] if row else None


def trim(conn: psycopg.Connection, before: datetime) -> dict[str, int]:
    """Deletes rollup buckets that start before `before`; returns the rows deleted per rollup."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_LOCK)
        deleted = {name: cur.execute(statement, (before,)).rowcount for name, statement in _TRIM.items()}
    return {"hourly": deleted["hourly"], "daily": deleted["daily"]}
