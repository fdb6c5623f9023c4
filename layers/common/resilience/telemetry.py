"""Raw resilience events in Postgres: the deduplicated bulk insert and the paged read."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from resilience.events import StoredEvent
from resilience.windows import Window

COLUMNS = "id, ts, user_id, session_id, component, signal, data"

# An event whose id is already stored within a day of the batch's timestamps is a retry: its first
# copy stands. (id, ts) is the table's key; the window also catches retries whose ts defaulted to
# the receive time. The key's index answers this one probe per partition in the window.
_STORED_IDS = """
SELECT id FROM resilience_metrics
WHERE id = ANY(%(ids)s) AND ts >= %(low)s AND ts <= %(high)s
"""
RETRY_WINDOW = timedelta(days=1)

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
    id uuid, ts timestamptz, user_id uuid, session_id text, component text, signal text, data jsonb
) ON COMMIT DELETE ROWS
"""

# The slow path, for a batch that raced a concurrent copy of itself: the key decides.
_INSERT_STAGED = f"""
INSERT INTO resilience_metrics ({COLUMNS})
SELECT {COLUMNS} FROM ingest_staging
ON CONFLICT (id, ts) DO NOTHING
"""

MAX_PAGE = 1000


@dataclass(frozen=True)
class InsertResult:
    accepted: int
    duplicates: int


def _copy(cur: psycopg.Cursor[Any], table: str, events: Sequence[StoredEvent]) -> None:
    with cur.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
        for e in events:
            copy.write_row((e.id, e.ts, e.user_id, e.session_id, e.component, e.signal, e.data_json))


def insert_events(conn: psycopg.Connection, events: Sequence[StoredEvent]) -> InsertResult:
    """Writes a batch: one probe for ids already stored, then a COPY of the new events.

    Call it inside a transaction, so a batch is stored whole or not at all.
    """
    if not events:
        return InsertResult(0, 0)
    first: dict[uuid.UUID, StoredEvent] = {}
    for e in events:
        first.setdefault(e.id, e)
    low = min(e.ts for e in first.values()) - RETRY_WINDOW
    high = max(e.ts for e in first.values()) + RETRY_WINDOW
    with conn.cursor() as cur:
        cur.execute(_STORED_IDS, {"ids": list(first), "low": low, "high": high})
        stored = {row[0] for row in cur}
        fresh = [e for e in first.values() if e.id not in stored]
        if not fresh:
            return InsertResult(0, len(events))
        try:
            with conn.transaction():
                _copy(cur, "resilience_metrics", fresh)
            accepted = len(fresh)
        except psycopg.errors.UniqueViolation:
            # A concurrent request (a client retrying early) stored some of these first.
            cur.execute(_STAGING)
            _copy(cur, "ingest_staging", fresh)
            cur.execute(_INSERT_STAGED)
            accepted = cur.rowcount
    return InsertResult(accepted=accepted, duplicates=len(events) - accepted)


class CursorError(ValueError):
    """The paging cursor is not one this API handed out."""


def encode_cursor(ts: datetime, event_id: uuid.UUID) -> str:
    raw = json.dumps([ts.isoformat(), str(event_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_text, id_text = json.loads(raw)
        return datetime.fromisoformat(ts_text), uuid.UUID(id_text)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise CursorError("is not a cursor returned by this API") from exc


@dataclass(frozen=True)
class EventQuery:
    window: Window
    component: str | None = None
    signal: str | None = None
    session_id: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True)
class EventPage:
    events: list[dict[str, Any]]
    next_cursor: str | None


def query_events(conn: psycopg.Connection, query: EventQuery) -> EventPage:
    """Events in the window, newest first; next_cursor continues where this page stops."""
    clauses = ["ts >= %(start)s", "ts < %(end)s"]
    params: dict[str, Any] = {"start": query.window.start, "end": query.window.end, "limit": query.limit + 1}
    for name in ("component", "signal", "session_id"):
        value = getattr(query, name)
        if value is not None:
            clauses.append(f"{name} = %({name})s")
            params[name] = value
    if query.cursor:
        params["cursor_ts"], params["cursor_id"] = decode_cursor(query.cursor)
        clauses.append("(ts, id) < (%(cursor_ts)s, %(cursor_id)s)")
    sql = (
        "SELECT id, ts, user_id, session_id, component, signal, data, received_at"
        " FROM resilience_metrics WHERE " + " AND ".join(clauses) + " ORDER BY ts DESC, id DESC LIMIT %(limit)s"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql, params).fetchall()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    events = [
        {
            "id": str(r["id"]),
            "ts": r["ts"].isoformat(),
            "user_id": str(r["user_id"]) if r["user_id"] else None,
            "session_id": r["session_id"],
            "component": r["component"],
            "signal": r["signal"],
            "data": r["data"],
            "received_at": r["received_at"].isoformat(),
        }
        for r in rows
    ]
    next_cursor = encode_cursor(rows[-1]["ts"], rows[-1]["id"]) if more and rows else None
    return EventPage(events=events, next_cursor=next_cursor)
