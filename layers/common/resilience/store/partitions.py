"""Daily partitions of resilience_metrics: list them, create them ahead of time, drop expired ones."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import errors, sql
from psycopg.pq import TransactionStatus

from resilience.store.database import Database

T = TypeVar("T")

# Long enough for in-flight ingest batches to finish, short enough that the ingest queued behind
# a waiting lock request hardly notices; the retries make up for the short wait.
LOCK_TIMEOUT_MS = 200
ATTEMPTS = 8
RETRY_PAUSE_S = 0.2

# Days with more stray rows than this in the default partition stay there (they expire with its
# batched delete): moving them would hold the default partition, and so ingest, for too long.
MAX_ROWS_TO_MOVE = 50_000

Target = psycopg.Connection | Database

_LIST = """
SELECT c.relname,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'resilience_metrics'::regclass
  AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
ORDER BY 2, 1
"""

_CREATE = "SELECT resilience_create_partition(%s)"

_STRAY_DAYS = """
SELECT (ts AT TIME ZONE 'UTC')::date, count(*)
FROM resilience_metrics_default
WHERE ts >= %s AND ts < %s
GROUP BY 1 ORDER BY 1
"""

_ATTACHED = """
SELECT EXISTS (
    SELECT 1 FROM pg_inherits
    WHERE inhparent = 'resilience_metrics'::regclass AND inhrelid = to_regclass(%s)
)
"""
_COUNT = "SELECT count(*) FROM {}"
_LOCK_PARENT = "LOCK TABLE resilience_metrics IN ACCESS EXCLUSIVE MODE"
_DROP = "DROP TABLE {}"


@dataclass(frozen=True)
class Partition:
    """One daily partition: its table name and the range [start, end) of ts it holds."""

    name: str
    start: datetime
    end: datetime


@dataclass
class Upkeep:
    """What a pass of partition upkeep did, and what it left to the next pass."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    rows_dropped: int = 0
    deferred: list[str] = field(default_factory=list)

    def merge(self, other: Upkeep) -> Upkeep:
        self.created += other.created
        self.dropped += other.dropped
        self.rows_dropped += other.rows_dropped
        self.deferred += other.deferred
        return self


class PartitionBusy(Exception):
    """A lock stayed busy past the lock timeout on every attempt; the next run tries again."""


def partition_name(day: date) -> str:
    """The name resilience_partition_name() gives the partition of a day."""
    return f"resilience_metrics_p{day:%Y%m%d}"


def _scalar(conn: psycopg.Connection, query: str | sql.Composed, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


@contextmanager
def transaction(target: Target) -> Iterator[psycopg.Connection]:
    """A transaction of its own, so locks never pile up in a caller's open transaction."""
    if isinstance(target, Database):
        with target.transaction() as conn:
            yield conn
        return
    if target.info.transaction_status != TransactionStatus.IDLE:
        raise ValueError("partition changes need a connection outside any transaction")
    with target.transaction():
        yield target


def _with_short_locks(target: Target, work: Callable[[psycopg.Connection], T]) -> T:
    """Runs work in one short transaction under a short lock_timeout, retrying while locks are busy.

    The lock error is caught inside a savepoint, so the transaction itself (and a shared
    Database's connection) ends cleanly; the pause between attempts holds no locks.
    """
    for attempt in range(ATTEMPTS):
        with transaction(target) as conn:
            try:
                with conn.transaction():
                    conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{LOCK_TIMEOUT_MS}ms",))
                    return work(conn)
            except (errors.LockNotAvailable, errors.DeadlockDetected):
                pass
        if attempt + 1 < ATTEMPTS:
            time.sleep(RETRY_PAUSE_S * (attempt + 1))
    raise PartitionBusy


def list_partitions(target: Target) -> list[Partition]:
    """The daily partitions, oldest first (the default partition is not one of them)."""
    with transaction(target) as conn:
        rows = conn.execute(_LIST).fetchall()
    return [Partition(name, start, end) for name, start, end in rows if start is not None and end is not None]


def create(target: Target, day: date) -> bool:
    """Creates one day's partition, moving that day's rows out of the default partition.

    False if it existed already; PartitionBusy if its locks stayed busy.
    """
    return _with_short_locks(target, lambda conn: bool(_scalar(conn, _CREATE, (day,))))


def ensure(target: Target, days: Iterable[date]) -> Upkeep:
    """Creates the missing partitions among days, one transaction each, in date order.

    Once one is deferred the rest are too: whatever holds its locks would hold theirs.
    """
    upkeep = Upkeep()
    existing = {p.name for p in list_partitions(target)}
    for day in sorted(set(days)):
        name = partition_name(day)
        if name in existing:
            continue
        if upkeep.deferred:
            upkeep.deferred.append(name)
            continue
        try:
            if create(target, day):
                upkeep.created.append(name)
        except PartitionBusy:
            upkeep.deferred.append(name)
    return upkeep


def ensure_ahead(target: Target, days_ahead: int, today: date | None = None) -> Upkeep:
    """Makes sure today and the next days_ahead days have their partitions (for the scheduled jobs)."""
    today = today or datetime.now(UTC).date()
    return ensure(target, (today + timedelta(days=n) for n in range(days_ahead + 1)))


def adopt_strays(target: Target, since: datetime, until: datetime) -> Upkeep:
    """Creates partitions for the days in [since, until) that have rows in the default partition.

    Once moved, those rows expire by a partition drop rather than by a delete.
    """
    with transaction(target) as conn:
        strays = conn.execute(_STRAY_DAYS, (since, until)).fetchall()
    return ensure(target, (day for day, count in strays if count <= MAX_ROWS_TO_MOVE))


def drop(target: Target, partition: Partition) -> int | None:
    """Drops one partition in a transaction of its own; its row count, or None if it was gone already.

    Dropping a partition takes ACCESS EXCLUSIVE on the parent: taken first (the fixed lock
    order), under the short lock timeout, and held only for the catalog change.
    """
    ident = sql.Identifier(partition.name)
    try:
        with transaction(target) as conn:
            if not _scalar(conn, _ATTACHED, (partition.name,)):
                return None
            rows = int(_scalar(conn, sql.SQL(_COUNT).format(ident)))
    except errors.UndefinedTable:
        # Another run dropped it between the check and the count.
        return None

    def work(conn: psycopg.Connection) -> int | None:
        conn.execute(_LOCK_PARENT)
        if not _scalar(conn, _ATTACHED, (partition.name,)):
            return None
        conn.execute(sql.SQL(_DROP).format(ident))
        return rows

    return _with_short_locks(target, work)


def drop_before(target: Target, cutoff: datetime) -> Upkeep:
    """Drops every partition wholly older than cutoff, oldest first, one transaction each.

    Once one is deferred the rest are too, so a long reader delays a run by seconds, not minutes.
    """
    upkeep = Upkeep()
    for partition in list_partitions(target):
        if partition.end > cutoff:
            continue
        if upkeep.deferred:
            upkeep.deferred.append(partition.name)
            continue
        try:
            rows = drop(target, partition)
        except PartitionBusy:
            upkeep.deferred.append(partition.name)
            continue
        if rows is not None:
            upkeep.dropped.append(partition.name)
            upkeep.rows_dropped += rows
    return upkeep


# Small enough that each delete is a short transaction beside live ingest.
DELETE_BATCH = 10_000

_DELETE_EXPIRED_DEFAULT = """
DELETE FROM resilience_metrics_default
WHERE ctid = ANY (ARRAY(SELECT ctid FROM resilience_metrics_default WHERE ts < %s LIMIT %s))
"""


def delete_expired_default(target: Target, before: datetime) -> int:
    """Deletes rows older than before from the default partition, in short batches."""
    total = 0
    while True:
        with transaction(target) as conn:
            deleted = conn.execute(_DELETE_EXPIRED_DEFAULT, (before, DELETE_BATCH)).rowcount
        total += deleted
        # Fewer than a batch: nothing is left, or a concurrent run is deleting the rest.
        if deleted < DELETE_BATCH:
            return total
