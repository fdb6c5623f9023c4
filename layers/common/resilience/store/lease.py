"""The evaluation lease: one alert evaluation acts at a time, and never as of an earlier time than the last."""

from __future__ import annotations

from datetime import datetime

import psycopg

from resilience.store import locks

LOCK = "resilience.alert_evaluation"


def acquire(conn: psycopg.Connection, now: datetime) -> str | None:
    """Takes the lease for this transaction; returns why not when it cannot act."""
    # A transaction-level advisory lock, so an evaluation that overlaps never waits: it skips.
    if not locks.try_take(conn, LOCK):
        return "another evaluation is running"
    conn.execute("INSERT INTO alert_evaluation_lease (id) VALUES (1) ON CONFLICT DO NOTHING")
    row = conn.execute("SELECT evaluated_at FROM alert_evaluation_lease WHERE id = 1 FOR UPDATE").fetchone()
    if row is not None and row[0] is not None and now < row[0]:
        # A late retry of an older run: acting on it would move alerts back in time.
        return f"an evaluation as of {row[0].isoformat()} already ran"
    conn.execute("UPDATE alert_evaluation_lease SET evaluated_at = %s WHERE id = 1", (now,))
    return None
