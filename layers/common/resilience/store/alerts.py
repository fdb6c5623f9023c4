"""The alerts table and timelines: open alerts locked for an evaluation, changes written, reads, acknowledgement."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from resilience.alert_states import Alert, AlertEvent, AlertValues, EventKind, Scope, State

# The table's columns are the alert's fields.
COLUMNS = ", ".join(Alert.model_fields)
_NEW = list(AlertValues.model_fields)
_INSERT = f"INSERT INTO alerts ({', '.join(_NEW)}) VALUES ({', '.join(f'%({n})s' for n in _NEW)}) RETURNING {COLUMNS}"
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
_WRITE = f"UPDATE alerts SET {', '.join(f'{n} = %({n})s' for n in _CHANGING)} WHERE id = %(id)s"


def _alerts(conn: psycopg.Connection, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Alert]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [Alert.model_validate(row) for row in cur.execute(query, params).fetchall()]


def open_alerts(conn: psycopg.Connection) -> dict[Scope, Alert]:
    """The alerts not yet resolved, by rule and component, locked until the transaction ends."""
    found = _alerts(conn, f"SELECT {COLUMNS} FROM alerts WHERE state <> 'resolved' FOR UPDATE")
    return {(alert.rule, alert.component): alert for alert in found}


def insert(conn: psycopg.Connection, values: AlertValues) -> Alert:
    """Stores a new alert; returns it with its id."""
    [alert] = _alerts(conn, _INSERT, values.model_dump(exclude=_COMPUTED))
    return alert


def write(conn: psycopg.Connection, alerts: Iterable[Alert]) -> None:
    """Writes what an evaluation changed of alerts it keeps, in one batch."""
    params = [{name: getattr(a, name) for name in ("id", *_CHANGING)} for a in alerts]
    if params:
        with conn.cursor() as cur:
            cur.executemany(_WRITE, params)


def delete(conn: psycopg.Connection, alert_id: int) -> None:
    conn.execute("DELETE FROM alerts WHERE id = %s", (alert_id,))


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


_EVENT = list(AlertEvent.model_fields)


def record(conn: psycopg.Connection, events: Iterable[tuple[int, AlertEvent]]) -> None:
    """Adds entries to alerts' timelines: (alert id, event)."""
    params = [(alert_id, *(getattr(event, name) for name in _EVENT)) for alert_id, event in events]
    if params:
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO alert_events (alert_id, {', '.join(_EVENT)}) VALUES (%s{', %s' * len(_EVENT)})", params
            )


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
