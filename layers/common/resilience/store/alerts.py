"""The alerts table and timelines: open alerts locked for an evaluation, changes written, reads, acknowledgement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from resilience.alert_states import Alert, AlertEvent, AlertValues, EventKind, Scope, State

# The table's columns are the alert's fields.
COLUMNS = ", ".join(Alert.model_fields)
_NEW = list(AlertValues.model_fields)
_COMPUTED = set(AlertValues.model_computed_fields)
# What an evaluation changes of an alert it keeps.
_CHANGING = (
    "state",
    "value",
    "numerator",
    "denominator",
    "fired_at",
    "resolved_at",
    "evaluated_at",
    "last_notified_at",
    "silenced_by",
    "notice_owed",
)
_EVENT = list(AlertEvent.model_fields)
# The columns' types (migrations/003_alerts.sql, 007_alerting.sql), for batches sent as one array per column.
_TYPES = {
    "id": "bigint",
    "alert_id": "bigint",
    "value": "double precision",
    "threshold": "double precision",
    "objective": "double precision",
    "numerator": "integer",
    "denominator": "integer",
    "window_minutes": "integer",
    "notice_owed": "boolean",
    **dict.fromkeys(
        ("started_at", "fired_at", "resolved_at", "evaluated_at", "last_notified_at", "acknowledged_at", "at"),
        "timestamptz",
    ),
}


def _rows(names: Sequence[str]) -> str:
    """A batch as rows: one array parameter per column, named as the column, unnested together (v.ord: the order)."""
    arrays = ", ".join(f"%({n})b::{_TYPES.get(n, 'text')}[]" for n in names)
    return f"unnest({arrays}) WITH ORDINALITY AS v({', '.join(names)}, ord)"


def _arrays(names: Sequence[str], items: Sequence[Any]) -> dict[str, list[Any]]:
    return {n: [getattr(item, n) for item in items] for n in names}


_INSERT = f"INSERT INTO alerts ({', '.join(_NEW)}) SELECT {', '.join(_NEW)} FROM {_rows(_NEW)} RETURNING {COLUMNS}"
_WRITE = f"""UPDATE alerts AS a SET {", ".join(f"{n} = v.{n}" for n in _CHANGING)}
FROM {_rows(("id", *_CHANGING))} WHERE a.id = v.id"""
_RECORD = f"""INSERT INTO alert_events (alert_id, {", ".join(_EVENT)})
SELECT alert_id, {", ".join(_EVENT)} FROM {_rows(("alert_id", *_EVENT))} ORDER BY v.ord"""


def _alerts(conn: psycopg.Connection, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Alert]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [Alert.model_validate(row) for row in cur.execute(query, params).fetchall()]


def open_alerts(conn: psycopg.Connection) -> dict[Scope, Alert]:
    """The alerts not yet resolved, by rule and component, locked until the transaction ends."""
    found = _alerts(conn, f"SELECT {COLUMNS} FROM alerts WHERE state <> 'resolved' FOR UPDATE")
    return {(alert.rule, alert.component): alert for alert in found}


def insert(conn: psycopg.Connection, values: Sequence[AlertValues]) -> list[Alert]:
    """Stores new alerts in one statement; returns them with their ids, in the order given."""
    if not values:
        return []
    # At most one open alert per rule and component (alerts_open_idx): the scope finds each row.
    stored = {(a.rule, a.component): a for a in _alerts(conn, _INSERT, _arrays(_NEW, values))}
    return [stored[(v.rule, v.component)] for v in values]


def write(conn: psycopg.Connection, alerts: Sequence[Alert]) -> None:
    """Writes what an evaluation changed of alerts it keeps, in one statement."""
    if alerts:
        conn.execute(_WRITE, _arrays(("id", *_CHANGING), alerts))


def delete(conn: psycopg.Connection, alert_ids: Sequence[int]) -> None:
    if alert_ids:
        conn.execute("DELETE FROM alerts WHERE id = ANY(%s::bigint[])", (list(alert_ids),))


def list_alerts(
    conn: psycopg.Connection, state: State | None = None, limit: int = 100, component: str | None = None
) -> list[Alert]:
    """Alerts, most recently started first; of one state, of one component, if asked."""
    return _alerts(
        conn,
        f"""SELECT {COLUMNS} FROM alerts
            WHERE (%(state)s::text IS NULL OR state = %(state)s)
              AND (%(component)s::text IS NULL OR component = %(component)s)
            ORDER BY started_at DESC, id DESC LIMIT %(limit)s""",
        {"state": state.value if state else None, "component": component, "limit": limit},
    )


def get_alert(conn: psycopg.Connection, alert_id: int) -> Alert | None:
    found = _alerts(conn, f"SELECT {COLUMNS} FROM alerts WHERE id = %s", (alert_id,))
    return found[0] if found else None


def acknowledge(conn: psycopg.Connection, alert_id: int, by: str, note: str | None, now: datetime) -> Alert | None:
    """Marks an alert acknowledged (no more reminders); the first acknowledgement stands. None if unknown."""
    found = _alerts(
        conn,
        f"""UPDATE alerts SET acknowledged_at = %s, acknowledged_by = %s, acknowledge_note = %s
            WHERE id = %s AND acknowledged_at IS NULL RETURNING {COLUMNS}""",
        (now, by, note, alert_id),
    )
    if found:
        record(conn, [(alert_id, AlertEvent(at=now, kind=EventKind.ACKNOWLEDGED, by=by, note=note))])
        return found[0]
    return get_alert(conn, alert_id)


def record(conn: psycopg.Connection, events: Sequence[tuple[int, AlertEvent]]) -> None:
    """Adds entries to alerts' timelines in one statement: (alert id, event), recorded in this order."""
    if events:
        params = {"alert_id": [alert_id for alert_id, _ in events], **_arrays(_EVENT, [e for _, e in events])}
        conn.execute(_RECORD, params)


def timeline(conn: psycopg.Connection, alert_id: int) -> list[AlertEvent]:
    """An alert's timeline in the order it was recorded."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {', '.join(_EVENT)} FROM alert_events WHERE alert_id = %s ORDER BY id", (alert_id,)
        ).fetchall()
    return [AlertEvent.model_validate(row) for row in rows]


def purge_resolved(conn: psycopg.Connection, before: datetime) -> int:
    """Deletes alerts resolved before the cutoff; returns how many."""
    return conn.execute("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < %s", (before,)).rowcount
