"""The silences table: created, listed, expired."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from resilience.silences import Matchers, Silence

_COLUMNS = "id, component, metric, rule, starts_at, ends_at, comment, created_by, created_at"


def _silences(conn: psycopg.Connection, query: str, params: dict[str, object]) -> list[Silence]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    return [
        Silence(
            matchers=Matchers(component=row.pop("component"), metric=row.pop("metric"), rule=row.pop("rule")), **row
        )
        for row in rows
    ]


def create(
    conn: psycopg.Connection,
    matchers: Matchers,
    starts_at: datetime,
    ends_at: datetime,
    comment: str,
    by: str,
    now: datetime,
) -> Silence:
    [silence] = _silences(
        conn,
        f"""INSERT INTO silences (component, metric, rule, starts_at, ends_at, comment, created_by, created_at)
            VALUES (%(component)s, %(metric)s, %(rule)s, %(starts_at)s, %(ends_at)s, %(comment)s, %(by)s, %(now)s)
            RETURNING {_COLUMNS}""",
        {**matchers.model_dump(), "starts_at": starts_at, "ends_at": ends_at, "comment": comment, "by": by, "now": now},
    )
    return silence


def list_silences(conn: psycopg.Connection, now: datetime, active: bool | None = None) -> list[Silence]:
    """Silences ending last first; only those in force at `now` (active) or only the others (not active)."""
    return _silences(
        conn,
        f"""SELECT {_COLUMNS} FROM silences
            WHERE %(active)s::boolean IS NULL OR (starts_at <= %(now)s AND %(now)s < ends_at) = %(active)s
            ORDER BY ends_at DESC, id DESC""",
        {"now": now, "active": active},
    )


def in_force(conn: psycopg.Connection, now: datetime) -> list[Silence]:
    """The silences in force at `now`, oldest first: the first match names what silenced an alert."""
    return sorted(list_silences(conn, now, active=True), key=lambda s: s.id)


def expire(conn: psycopg.Connection, silence_id: int, now: datetime) -> Silence | None:
    """Ends a silence now (one not yet started ends before it starts); None if unknown."""
    found = _silences(
        conn,
        f"""UPDATE silences SET ends_at = LEAST(ends_at, %(now)s), starts_at = LEAST(starts_at, %(now)s)
            WHERE id = %(id)s RETURNING {_COLUMNS}""",
        {"id": silence_id, "now": now},
    )
    return found[0] if found else None


def purge_ended(conn: psycopg.Connection, before: datetime) -> int:
    """Deletes silences that ended before the cutoff; returns how many."""
    return conn.execute("DELETE FROM silences WHERE ends_at < %s", (before,)).rowcount
