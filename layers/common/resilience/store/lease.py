"""The evaluation lease: one alert evaluation acts at a time, and never as of an earlier time than the last."""

from __future__ import annotations

from datetime import datetime

import psycopg

from resilience.store import locks

LOCK = "resilience.alert_evaluation"


# Moves the lease's time forward, never back; the row stays locked to the end of the transaction
# either way (ON CONFLICT DO UPDATE locks the row it conflicts with, updated or not).
_ADVANCE = """
INSERT INTO alert_evaluation_lease AS l (id, evaluated_at) VALUES (1, %(now)s)
ON CONFLICT (id) DO UPDATE SET evaluated_at = EXCLUDED.evaluated_at
WHERE l.evaluated_at IS NULL OR l.evaluated_at <= EXCLUDED.evaluated_at
RETURNING evaluated_at
"""


def acquire(conn: psycopg.Connection, now: datetime) -> str | None:
    """Takes the lease for this transaction; returns why not when it cannot act."""
    # A transaction-level advisory lock, so an evaluation that overlaps never waits: it skips.
    if not locks.try_take(conn, LOCK):
        return "another evaluation is running"
    if conn.execute(_ADVANCE, {"now": now}).fetchone() is None:
        # A late retry of an older run: acting on it would move alerts back in time.
        row = conn.execute("SELECT evaluated_at FROM alert_evaluation_lease WHERE id = 1").fetchone()
        return f"an evaluation as of {row[0].isoformat() if row else '?'} already ran"
    return None
