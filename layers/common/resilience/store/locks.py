"""Advisory locks: how concurrent runs of one job (a refresh, an evaluation, a migration) take turns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

# A lock is a number, or a name that Postgres hashes to one.
Key = int | str


def _key(key: Key) -> tuple[str, tuple[Key]]:
    return ("hashtext(%s)" if isinstance(key, str) else "%s::bigint"), (key,)


def wait_for(conn: psycopg.Connection, key: Key) -> None:
    """Waits for the lock; it is held until the current transaction ends."""
    sql, params = _key(key)
    conn.execute(f"SELECT pg_advisory_xact_lock({sql})", params)


def try_take(conn: psycopg.Connection, key: Key) -> bool:
    """Takes the lock for the current transaction if it is free; never waits."""
    sql, params = _key(key)
    row = conn.execute(f"SELECT pg_try_advisory_xact_lock({sql})", params).fetchone()
    return bool(row and row[0])


@contextmanager
def held(conn: psycopg.Connection, key: Key) -> Iterator[None]:
    """The lock for the session, across the transactions inside the block."""
    sql, params = _key(key)
    conn.execute(f"SELECT pg_advisory_lock({sql})", params)
    try:
        yield
    finally:
        conn.execute(f"SELECT pg_advisory_unlock({sql})", params)
