"""The registry of known components: new ones admitted up to the limit, unseen ones forgotten."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import psycopg

from resilience.store import locks

# New names are admitted one registration at a time, so concurrent ingests cannot overshoot the limit.
LOCK = "resilience.components"

_KNOWN = "SELECT component, last_seen FROM resilience_components WHERE component = ANY(%s)"
# A component's day is written once a day at most: the usual request only reads.
_SEEN = "UPDATE resilience_components SET last_seen = %s WHERE component = ANY(%s) AND last_seen < %s"
_REGISTER = """
INSERT INTO resilience_components (component, last_seen) SELECT unnest(%s::text[]), %s
ON CONFLICT (component) DO UPDATE SET last_seen = greatest(resilience_components.last_seen, EXCLUDED.last_seen)
"""


@dataclass(frozen=True)
class Admission:
    """Which names may be stored, and why the others may not."""

    admitted: frozenset[str]
    # New names refused because the registry holds the limit already.
    over_limit: tuple[str, ...] = ()
    # New names refused because the request brought more new ones than one request may register.
    over_request: tuple[str, ...] = ()


def _known(conn: psycopg.Connection, names: Sequence[str], seen_on: date) -> set[str]:
    rows = conn.execute(_KNOWN, (list(names),)).fetchall()
    if any(last_seen < seen_on for _, last_seen in rows):
        conn.execute(_SEEN, (seen_on, [name for name, _ in rows], seen_on))
    return {name for name, _ in rows}


def admit(
    conn: psycopg.Connection, names: Sequence[str], limit: int, *, new_at_most: int | None = None, seen_on: date
) -> Admission:
    """Of these names, those that may be stored: the known ones, and new ones while fewer than limit are known.

    New names are taken in the order given, at most new_at_most of them, until the registry holds
    `limit` names. Every admitted name is marked seen on seen_on.
    """
    if not names:
        return Admission(frozenset())
    known = _known(conn, names, seen_on)
    new = [name for name in dict.fromkeys(names) if name not in known]
    if not new:
        return Admission(frozenset(known))
    cap = len(new) if new_at_most is None else new_at_most
    candidates, over_request = new[:cap], tuple(new[cap:])
    with conn.transaction():
        locks.wait_for(conn, LOCK)
        row = conn.execute("SELECT count(*) FROM resilience_components").fetchone()
        room = max(0, limit - (row[0] if row else 0))
        if room and candidates:
            conn.execute(
                "INSERT INTO resilience_components (component, last_seen) SELECT unnest(%s::text[]), %s"
                " ON CONFLICT DO NOTHING",
                (candidates[:room], seen_on),
            )
        # Names another ingest registered meanwhile are known now too.
        known |= {row[0] for row in conn.execute(_KNOWN, (candidates,))}
    over_limit = tuple(name for name in candidates if name not in known)
    return Admission(frozenset(known), over_limit, over_request)


def register(conn: psycopg.Connection, names: Sequence[str], seen_on: date) -> None:
    """Marks these names known and seen, whatever the limit: the queued writer's, for names the ingest admitted."""
    if names:
        conn.execute(_REGISTER, (list(names), seen_on))


def forget_unseen(conn: psycopg.Connection, before: date) -> int:
    """Forgets the components not seen since before; returns how many. Their stored events stay."""
    return conn.execute("DELETE FROM resilience_components WHERE last_seen < %s", (before,)).rowcount


def count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM resilience_components").fetchone()
    return int(row[0]) if row else 0
