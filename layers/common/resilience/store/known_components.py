"""The registry of known components: which names may be stored, and admitting new ones up to the limit."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from resilience.store import locks

# New names are admitted one registration at a time, so concurrent ingests cannot overshoot the limit.
LOCK = "resilience.components"

_KNOWN = "SELECT component FROM resilience_components WHERE component = ANY(%s)"


def admit(conn: psycopg.Connection, names: Sequence[str], limit: int) -> set[str]:
    """Of these names, those that may be stored: the known ones, and new ones while fewer than limit are known.

    New names are taken in the order given until the registry holds `limit` names.
    """
    if not names:
        return set()
    known = {row[0] for row in conn.execute(_KNOWN, (list(names),))}
    new = [name for name in names if name not in known]
    if not new:
        return known
    with conn.transaction():
        locks.wait_for(conn, LOCK)
        row = conn.execute("SELECT count(*) FROM resilience_components").fetchone()
        room = max(0, limit - (row[0] if row else 0))
        if room:
            conn.execute(
                "INSERT INTO resilience_components (component) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                (new[:room],),
            )
        # Names another ingest registered meanwhile are known now too.
        known |= {row[0] for row in conn.execute(_KNOWN, (new,))}
    return known


def count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM resilience_components").fetchone()
    return int(row[0]) if row else 0
