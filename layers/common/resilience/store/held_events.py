"""Queued events held back by the component limit: kept apart, stored once there is room, expired with retention."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import psycopg

from resilience.store.known_components import admit
from resilience.store.telemetry import insert_events
from resilience.telemetry import StoredEvent

_HOLD = """
INSERT INTO resilience_held_events (id, ts, user_id, session_id, component, signal, data)
VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING
"""
_HELD_OF = """
SELECT id::text, ts, user_id::text, session_id, component, signal, data::text
FROM resilience_held_events WHERE component = ANY(%s) ORDER BY ts
"""


def hold(conn: psycopg.Connection, events: Sequence[StoredEvent]) -> None:
    """Keeps these events apart from the stored ones; an event held twice (a redelivery) is kept once."""
    if events:
        with conn.cursor() as cur:
            cur.executemany(_HOLD, events)


def components(conn: psycopg.Connection) -> list[str]:
    """The components that held events wait for, the longest waiting first."""
    rows = conn.execute("SELECT component FROM resilience_held_events GROUP BY component ORDER BY min(held_at)")
    return [row[0] for row in rows]


def release(conn: psycopg.Connection, max_components: int, seen_on: date) -> int:
    """Stores the held events of every component the registry now admits; returns how many were stored.

    Held events whose id is stored already (the client sent them again later) are dropped as duplicates.
    """
    waiting = components(conn)
    if not waiting:
        return 0
    admitted = sorted(admit(conn, waiting, max_components, seen_on=seen_on).admitted)
    if not admitted:
        return 0
    with conn.transaction():
        events = [StoredEvent(*row) for row in conn.execute(_HELD_OF, (admitted,))]
        stored = insert_events(conn, events).accepted
        conn.execute("DELETE FROM resilience_held_events WHERE component = ANY(%s)", (admitted,))
    return stored


def expire(conn: psycopg.Connection, before: datetime) -> int:
    """Lets go of held events older than the raw retention: they could no longer be stored. Returns how many."""
    return conn.execute("DELETE FROM resilience_held_events WHERE ts < %s", (before,)).rowcount


def count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM resilience_held_events").fetchone()
    return int(row[0]) if row else 0
