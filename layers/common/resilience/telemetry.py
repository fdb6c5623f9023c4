"""Raw resilience events in Postgres: the deduplicated bulk insert and the paged read."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from resilience.events import StoredEvent
from resilience.windows import Window

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
    id uuid, ts timestamptz, user_id uuid, session_id text, component text, signal text, data jsonb
) ON COMMIT DELETE ROWS
"""

# An event whose id is already stored within a day of its ts is a retry: its first copy stands.
# (id, ts) is the table's key; the window catches retries that let ts default to receive time.
_INSERT_NEW = """
INSERT INTO resilience_metrics (id, ts, user_id, session_id, component, signal, data)
SELECT DISTINCT ON (s.id) s.id, s.ts, s.user_id, s.session_id, s.component, s.signal, s.data
FROM ingest_staging s
WHERE NOT EXISTS (
    SELECT 1 FROM resilience_metrics m
    WHERE m.id = s.id AND m.ts BETWEEN s.ts - interval '1 day' AND s.ts + interval '1 day'
)
ORDER BY s.id, s.ts
ON CONFLICT (id, ts) DO NOTHING
"""

MAX_PAGE = 1000


@dataclass(frozen=True)
class InsertResult:
    accepted: int
    duplicates: int


def insert_events(conn: psycopg.Connection, events: Sequence[StoredEvent]) -> InsertResult:
    """Writes a batch: COPY into a staging table, then one deduplicating INSERT.

    Call it inside a transaction, so a batch is stored whole or not at all.
    """
    if not events:
        return InsertResult(0, 0)
    with conn.cursor() as cur:
        cur.execute(_STAGING)
        with cur.copy("COPY ingest_staging (id, ts, user_id, session_id, component, signal, data) FROM STDIN") as copy:
            for e in events:
                copy.write_row((e.id, e.ts, e.user_id, e.session_id, e.component, e.signal, e.data_json))
        cur.execute(_INSERT_NEW)
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
