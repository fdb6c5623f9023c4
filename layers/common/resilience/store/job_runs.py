"""When each scheduled job last ran: the heartbeat /v1/health reads."""

from __future__ import annotations

from datetime import datetime

import psycopg


def record(conn: psycopg.Connection, job: str, at: datetime) -> None:
    """Notes that `job` ran at `at` (a later run never moves it back)."""
    conn.execute(
        """INSERT INTO job_runs (job, ran_at) VALUES (%s, %s)
           ON CONFLICT (job) DO UPDATE SET ran_at = GREATEST(job_runs.ran_at, EXCLUDED.ran_at)""",
        (job, at),
    )


def last_runs(conn: psycopg.Connection) -> dict[str, datetime]:
    return dict(conn.execute("SELECT job, ran_at FROM job_runs").fetchall())
