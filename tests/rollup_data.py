"""Builders of raw signal rows and the from-scratch answers rollups and counts must agree with."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from resilience.signals import KNOWN_SIGNALS
from resilience.store.telemetry import insert_events
from resilience.telemetry import StoredEvent

COMPONENTS = ("CheckoutForm", "CartDrawer", "SearchBox")
USERS = [uuid.UUID(int=i + 1) for i in range(6)]


def event(ts: datetime, signal: str, component: str = "CheckoutForm", **fields: Any) -> StoredEvent:
    return StoredEvent(
        id=str(fields.get("id") or uuid.uuid4()),
        ts=ts,
        user_id=str(fields["user_id"]) if fields.get("user_id") else None,
        session_id=fields.get("session_id", "sess-1"),
        component=component,
        signal=signal,
        data_json="{}",
    )


def random_events(rng: random.Random, n: int, start: datetime, end: datetime) -> list[StoredEvent]:
    """n events with random ts in [start, end), components, signals, users (some anonymous) and sessions."""
    span = (end - start).total_seconds()
    return [
        event(
            start + timedelta(seconds=rng.random() * span),
            rng.choice(KNOWN_SIGNALS),
            rng.choice(COMPONENTS),
            user_id=rng.choice([*USERS, None]),
            session_id=f"sess-{rng.randrange(8)}",
        )
        for _ in range(n)
    ]


def ingest(db: psycopg.Connection, events: Sequence[StoredEvent]) -> None:
    """Stores a batch through the ingest path, in its own transaction."""
    with db.transaction():
        insert_events(db, events)


def hour_floor(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


_SCRATCH = """
SELECT date_trunc(%(unit)s, ts, 'UTC') AS bucket, component, signal,
       count(*), count(DISTINCT user_id), count(DISTINCT session_id)
FROM resilience_metrics GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def from_scratch(db: psycopg.Connection, unit: str) -> list[tuple[Any, ...]]:
    """The original materialized view's definition, computed now over every raw row."""
    return db.execute(_SCRATCH, {"unit": unit}).fetchall()


def rollup(db: psycopg.Connection, unit: str) -> list[tuple[Any, ...]]:
    table = {"hour": "resilience_rollup_hourly", "day": "resilience_rollup_daily"}[unit]
    return db.execute(
        f"SELECT bucket, component, signal, count, unique_users, unique_sessions FROM {table} ORDER BY 1, 2, 3"
    ).fetchall()


def raw_counts(db: psycopg.Connection, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Signal counts per component over [start, end), straight from the raw rows."""
    found: dict[str, dict[str, int]] = {}
    for component, signal, n in db.execute(
        "SELECT component, signal, count(*) FROM resilience_metrics WHERE ts >= %s AND ts < %s GROUP BY 1, 2",
        (start, end),
    ):
        found.setdefault(component, {})[signal] = n
    return found


def assert_rollups_match_raw_rows(db: psycopg.Connection) -> None:
    """Every rollup, the five-minute slices and the all-components totals equal a recomputation from raw rows."""
    assert rollup(db, "hour") == from_scratch(db, "hour")
    assert rollup(db, "day") == from_scratch(db, "day")
    assert db.execute("SELECT bucket, signal, count FROM resilience_rollup_signal_slices ORDER BY 1, 2").fetchall() == (
        db.execute(
            "SELECT date_bin('5 minutes', ts, timestamptz '2000-01-01 00:00+00'), signal, count(*)"
            " FROM resilience_metrics GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    )
    totals = db.execute(
        "SELECT bucket, signal, sum(count) FROM resilience_rollup_hourly GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    assert db.execute("SELECT bucket, signal, count FROM resilience_rollup_signal_hourly ORDER BY 1, 2").fetchall() == [
        (b, s, int(n)) for b, s, n in totals
    ]
    totals = db.execute(
        "SELECT bucket, signal, sum(count) FROM resilience_rollup_daily GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    assert db.execute("SELECT bucket, signal, count FROM resilience_rollup_signal_daily ORDER BY 1, 2").fetchall() == [
        (b, s, int(n)) for b, s, n in totals
    ]


_MEMBERS = """
SELECT DISTINCT date_bin('1 {unit}', m.ts, timestamptz '2000-01-01 00:00+00'), m.{member}, m.component, m.signal
FROM resilience_metrics m
JOIN resilience_rollup_tracked_days t ON t.day = date_bin('1 day', m.ts, timestamptz '2000-01-01 00:00+00')
WHERE m.{member} IS NOT NULL
ORDER BY 1, 2, 3, 4
"""

# A day bitmap read back as the components and signals whose bits it has.
_DAY_BITMAPS = """
SELECT d.day, d.{member}, p.component, p.signal
FROM resilience_rollup_day_{kind} d JOIN resilience_rollup_pairs p ON resilience_rollup_has_pair(d.pairs, p.pair)
ORDER BY 1, 2, 3, 4
"""


def assert_sets_match_raw_rows(db: psycopg.Connection) -> None:
    """Each tracked day's sets hold exactly the users and sessions of its raw rows: per hour in its hour
    sets, per day in its day bitmaps, with the components and signals they were seen with."""
    for kind, member in (("users", "user_id"), ("sessions", "session_id")):
        stored = f"SELECT hour, {member}, component, signal FROM resilience_rollup_hour_{kind} ORDER BY 1, 2, 3, 4"
        assert db.execute(stored).fetchall() == db.execute(_MEMBERS.format(unit="hour", member=member)).fetchall(), kind
        days = db.execute(_DAY_BITMAPS.format(kind=kind, member=member)).fetchall()
        assert days == db.execute(_MEMBERS.format(unit="day", member=member)).fetchall(), kind
