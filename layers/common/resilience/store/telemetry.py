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
from psycopg.adapt import Dumper
from psycopg.pq import Format

from resilience.signals import Signal
from resilience.telemetry import RecordedEvent, StoredEvent
from resilience.windows import Window, in_calendar

COLUMNS = "id, ts, user_id, session_id, component, signal, data"

# An event whose id is already stored within a day of the batch's timestamps is a retry: its first
# copy stands. (id, ts) is the table's key; the window also catches retries whose ts defaulted to
# the receive time. The key's index answers this one probe per partition in the window.
_STORED_IDS = """
SELECT id::text FROM resilience_metrics
WHERE id = ANY(%(ids)s::uuid[]) AND ts >= %(low)s AND ts <= %(high)s
"""
RETRY_WINDOW = timedelta(days=1)

# A batch conflicts only with a copy of itself committed meanwhile; each retry sees one more.
_ATTEMPTS = 3

MAX_PAGE = 1000

# What Postgres refuses in an event itself (class 22: a value out of range, text or JSON it cannot
# hold): storing it again cannot succeed. Ingest validation keeps such events out; this names them
# for the writer, which may meet messages that an older ingest let through.
Unstorable = psycopg.errors.DataError


@dataclass(frozen=True)
class InsertResult:
    accepted: int
    duplicates: int


class _UuidText(Dumper):
    """A UUID in text (as StoredEvent holds it) to binary uuid."""

    format = Format.BINARY
    oid = psycopg.adapters.types["uuid"].oid

    def dump(self, obj: str) -> bytes:
        return bytes.fromhex(obj.replace("-", ""))


class _JsonbText(Dumper):
    """Serialised JSON (as StoredEvent holds it) to binary jsonb: a version byte, then the text."""

    format = Format.BINARY
    oid = psycopg.adapters.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


# Binary COPY spares both sides the text form of timestamps and UUIDs. The dumpers are chosen by
# the column types, so they apply to this COPY only, not to every str the cursor sends.
COLUMN_TYPES = ["uuid", "timestamptz", "uuid", "text", "text", "text", "jsonb"]


def _copy(cur: psycopg.Cursor[Any], events: Sequence[StoredEvent]) -> None:
    cur.adapters.register_dumper(None, _UuidText)
    cur.adapters.register_dumper(None, _JsonbText)
    with cur.copy(f"COPY resilience_metrics ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(COLUMN_TYPES)
        for e in events:
            copy.write_row(e)


def insert_events(conn: psycopg.Connection, events: Sequence[StoredEvent]) -> InsertResult:
    """Stores a batch whole or not at all: one probe for ids already stored, then a COPY of the rest."""
    if not events:
        return InsertResult(0, 0)
    ids = {e.id for e in events}
    # The first of each id stands; the usual batch repeats none and is used as it is.
    unique = events if len(ids) == len(events) else list({e.id: e for e in reversed(events)}.values())
    timestamps = [e.ts for e in unique]
    probe = {
        # One text literal instead of a list: adapting 500 values costs more than the probe.
        "ids": "{" + ",".join(ids) + "}",
        "low": min(timestamps) - RETRY_WINDOW,
        "high": max(timestamps) + RETRY_WINDOW,
    }
    for attempt in range(_ATTEMPTS):
        try:
            with conn.transaction(), conn.cursor() as cur:
                stored = {row[0] for row in cur.execute(_STORED_IDS, probe)}
                fresh = [e for e in unique if e.id not in stored] if stored else unique
                if fresh:
                    _copy(cur, fresh)
            break
        except psycopg.errors.UniqueViolation:
            # A concurrent copy of this batch (a client retrying early) committed first; the
            # probe of the next attempt sees it.
            if attempt == _ATTEMPTS - 1:
                raise
    accepted = len(fresh)
    return InsertResult(accepted=accepted, duplicates=len(events) - accepted)


class CursorError(ValueError):
    """The paging cursor is not one this API handed out."""


def encode_cursor(ts: datetime, event_id: str) -> str:
    raw = json.dumps([ts.isoformat(), event_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# encode_cursor writes about 100 characters; anything far longer is refused before it is decoded,
# which also keeps json.loads from recursing into nesting deep enough to raise RecursionError.
_CURSOR_MAX_LENGTH = 256


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Where a page stopped, from a cursor encode_cursor wrote; CursorError for anything else, however close."""
    if len(cursor) > _CURSOR_MAX_LENGTH:
        raise CursorError("is not a cursor returned by this API")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_text, id_text = json.loads(raw)
        # A forged cursor may hold any JSON there: only the two strings encode_cursor writes are read.
        if not (isinstance(ts_text, str) and isinstance(id_text, str)):
            raise TypeError("a cursor holds a timestamp and an id, both strings")
        ts = datetime.fromisoformat(ts_text)
        if not (ts.tzinfo is not None and in_calendar(ts)):
            raise ValueError("a cursor's timestamp is one of a stored event")
        return ts, uuid.UUID(id_text)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise CursorError("is not a cursor returned by this API") from exc


@dataclass(frozen=True)
class EventQuery:
    """Which events to read: a window, optional filters, a page size and where the last page stopped."""

    window: Window
    component: str | None = None
    signal: str | None = None
    session_id: str | None = None
    limit: int = 100
    cursor: str | None = None
    # A user's own events only (a UUID in text): set by the route of signed-in users, never by a filter they send.
    user_id: str | None = None


@dataclass(frozen=True)
class EventPage:
    events: list[RecordedEvent]
    next_cursor: str | None


def query_events(conn: psycopg.Connection, query: EventQuery) -> EventPage:
    """Events in the window, newest first; next_cursor continues where this page stops."""
    clauses = ["ts >= %(start)s", "ts < %(end)s"]
    params: dict[str, Any] = {"start": query.window.start, "end": query.window.end, "limit": query.limit + 1}
    for name in ("component", "signal", "session_id", "user_id"):
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
    rows = conn.execute(sql, params).fetchall()
    # Read back from the table, so valid already: built without validating again.
    events = [
        RecordedEvent.model_construct(
            id=str(event_id),
            ts=ts,
            user_id=str(user_id) if user_id else None,
            session_id=session_id,
            component=component,
            signal=Signal(signal),
            data=data,
            received_at=received_at,
        )
        for event_id, ts, user_id, session_id, component, signal, data, received_at in rows[: query.limit]
    ]
    more = len(rows) > query.limit
    next_cursor = encode_cursor(events[-1].ts, events[-1].id) if more and events else None
    return EventPage(events=events, next_cursor=next_cursor)
