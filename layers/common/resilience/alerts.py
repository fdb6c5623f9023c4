"""Alert states: evaluation of the rules (pending -> firing -> resolved), acknowledgement, the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from resilience.rates import Rate, Status, compute
from resilience.rules import Rule
from resilience.windows import Window


class State(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Kind(StrEnum):
    """Why a notification is sent."""

    FIRING = "firing"
    REMINDER = "reminder"
    RESOLVED = "resolved"


class SignalCounts(Protocol):
    """resilience.store.counts.signal_counts: counts per signal, or per component and signal."""

    def __call__(
        self, conn: psycopg.Connection, window: Window, *, component: str | None = None, by_component: bool = False
    ) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Alert:
    id: int
    rule: str
    metric: str
    component: str | None
    state: State
    severity: str
    operator: str
    value: float
    threshold: float
    numerator: int
    denominator: int
    window_minutes: int
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    evaluated_at: datetime
    last_notified_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledge_note: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Alert:
        return cls(**{**row, "state": State(row["state"])})

    def as_dict(self) -> dict[str, Any]:
        """The JSON form the API and the notifications share."""
        out = asdict(self)
        out["state"] = self.state.value
        out["samples"] = self.denominator
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return out


@dataclass
class Evaluation:
    """What one evaluation did; ran is False when another evaluation held the lease."""

    ran: bool
    reason: str = ""
    opened: int = 0
    fired: int = 0
    reminded: int = 0
    resolved: int = 0
    cleared: int = 0
    notifications: int = 0
    skipped_low_volume: int = 0
    transitions: list[str] = field(default_factory=list)
    # Open alerts whose state stays as it is: their latest value, written in one batch at the end.
    refreshed: list[tuple[float | None, int, int, datetime, int]] = field(default_factory=list, repr=False)


_COLUMNS = (
    "id, rule, metric, component, state, severity, operator, value, threshold, numerator, denominator,"
    " window_minutes, started_at, fired_at, resolved_at, evaluated_at, last_notified_at,"
    " acknowledged_at, acknowledged_by, acknowledge_note"
)


def _acquire_lease(conn: psycopg.Connection, now: datetime) -> str | None:
    """Locks the lease row for this transaction; returns why not when it cannot act."""
    # A transaction-level advisory lock, so an evaluation that overlaps never waits: it skips.
    locked = conn.execute("SELECT pg_try_advisory_xact_lock(hashtext('resilience.alert_evaluation'))").fetchone()
    if not locked or not locked[0]:
        return "another evaluation is running"
    conn.execute("INSERT INTO alert_evaluation_lease (id) VALUES (1) ON CONFLICT DO NOTHING")
    row = conn.execute("SELECT evaluated_at FROM alert_evaluation_lease WHERE id = 1 FOR UPDATE").fetchone()
    if row is not None and row[0] is not None and now < row[0]:
        # A late retry of an older run: acting on it would move alerts back in time.
        return f"an evaluation as of {row[0].isoformat()} already ran"
    conn.execute("UPDATE alert_evaluation_lease SET evaluated_at = %s WHERE id = 1", (now,))
    return None


def _open_alerts(conn: psycopg.Connection) -> dict[tuple[str, str | None], Alert]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM alerts WHERE state <> 'resolved' FOR UPDATE").fetchall()
    return {(r["rule"], r["component"]): Alert.from_row(r) for r in rows}


def _enqueue(conn: psycopg.Connection, alert: Alert, kind: Kind, rule: Rule, now: datetime) -> None:
    payload = {
        "kind": kind.value,
        "at": now.isoformat(),
        "alert": alert.as_dict(),
        "rule": {
            "name": rule.name,
            "window_minutes": rule.window_minutes,
            "min_samples": rule.min_samples,
            "pending_minutes": rule.pending_minutes,
            "repeat_minutes": rule.repeat_minutes,
        },
    }
    conn.execute(
        "INSERT INTO alert_outbox (alert_id, kind, payload) VALUES (%s, %s, %s)", (alert.id, kind.value, Jsonb(payload))
    )


def _write(conn: psycopg.Connection, sql: str, params: Mapping[str, Any]) -> Alert:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql + f" RETURNING {_COLUMNS}", params).fetchone()
    assert row is not None
    return Alert.from_row(row)


def _open(conn: psycopg.Connection, rule: Rule, component: str | None, rate: Rate, now: datetime) -> Alert:
    fires = rule.pending_minutes == 0
    return _write(
        conn,
        """INSERT INTO alerts (rule, metric, component, state, severity, operator, value, threshold, numerator,
               denominator, window_minutes, started_at, fired_at, evaluated_at, last_notified_at)
           VALUES (%(rule)s, %(metric)s, %(component)s, %(state)s, %(severity)s, %(operator)s, %(value)s,
               %(threshold)s, %(numerator)s, %(denominator)s, %(window)s, %(now)s, %(fired)s, %(now)s, %(fired)s)""",
        {
            "rule": rule.name,
            "metric": rule.metric,
            "component": component,
            "state": State.FIRING if fires else State.PENDING,
            "severity": rule.severity.value,
            "operator": rule.op.value,
            "value": rate.value,
            "threshold": rule.limit,
            "numerator": rate.numerator,
            "denominator": rate.denominator,
            "window": rule.window_minutes,
            "now": now,
            "fired": now if fires else None,
        },
    )


def _update(conn: psycopg.Connection, alert: Alert, rate: Rate, now: datetime, **changes: Any) -> Alert:
    sets = ["value = %(value)s", "numerator = %(numerator)s", "denominator = %(denominator)s", "evaluated_at = %(now)s"]
    sets += [f"{name} = %({name})s" for name in changes]
    return _write(
        conn,
        f"UPDATE alerts SET {', '.join(sets)} WHERE id = %(id)s",
        {
            "id": alert.id,
            "value": rate.value,
            "numerator": rate.numerator,
            "denominator": rate.denominator,
            "now": now,
            **changes,
        },
    )


_REFRESH = "UPDATE alerts SET value = %s, numerator = %s, denominator = %s, evaluated_at = %s WHERE id = %s"


def _step(
    conn: psycopg.Connection,
    rule: Rule,
    component: str | None,
    rate: Rate,
    alert: Alert | None,
    now: datetime,
    result: Evaluation,
) -> None:
    """One rule and scope: the transition its current rate calls for, with its notification."""
    scope = component or "all components"
    if rate.status is Status.NO_DATA:
        # Too few samples to judge: an open alert neither fires nor resolves on them.
        if alert is not None:
            result.skipped_low_volume += 1
        return
    if rate.status is Status.ALERT:
        if alert is None:
            alert = _open(conn, rule, component, rate, now)
            result.opened += 1
            result.transitions.append(f"{rule.name} {scope}: {alert.state}")
            if alert.state is State.FIRING:
                _enqueue(conn, alert, Kind.FIRING, rule, now)
                result.fired += 1
                result.notifications += 1
        elif alert.state is State.PENDING:
            if now - alert.started_at >= timedelta(minutes=rule.pending_minutes):
                alert = _update(conn, alert, rate, now, state=State.FIRING.value, fired_at=now, last_notified_at=now)
                _enqueue(conn, alert, Kind.FIRING, rule, now)
                result.fired += 1
                result.notifications += 1
                result.transitions.append(f"{rule.name} {scope}: firing")
            else:
                result.refreshed.append((rate.value, rate.numerator, rate.denominator, now, alert.id))
        else:
            last = alert.last_notified_at or alert.fired_at or alert.started_at
            due = rule.repeat_minutes > 0 and now - last >= timedelta(minutes=rule.repeat_minutes)
            if due and alert.acknowledged_at is None:
                alert = _update(conn, alert, rate, now, last_notified_at=now)
                _enqueue(conn, alert, Kind.REMINDER, rule, now)
                result.reminded += 1
                result.notifications += 1
                result.transitions.append(f"{rule.name} {scope}: reminder")
            else:
                result.refreshed.append((rate.value, rate.numerator, rate.denominator, now, alert.id))
        return
    if alert is None:
        return
    if alert.state is State.PENDING:
        # The breach cleared before the pending period passed: nobody was told, nothing to resolve.
        conn.execute("DELETE FROM alerts WHERE id = %s", (alert.id,))
        result.cleared += 1
        result.transitions.append(f"{rule.name} {scope}: cleared while pending")
        return
    alert = _update(conn, alert, rate, now, state=State.RESOLVED.value, resolved_at=now)
    _enqueue(conn, alert, Kind.RESOLVED, rule, now)
    result.resolved += 1
    result.notifications += 1
    result.transitions.append(f"{rule.name} {scope}: resolved")


def evaluate(conn: psycopg.Connection, rules: list[Rule], *, now: datetime, counts: SignalCounts) -> Evaluation:
    """Evaluates every rule as of `now` in one transaction; an overlapping evaluation skips its turn.

    State changes and the notifications they cause are committed together, so a crash loses
    neither and a second run finds the state already changed and adds no notification.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    with conn.transaction():
        reason = _acquire_lease(conn, now)
        if reason:
            return Evaluation(ran=False, reason=reason)
        result = Evaluation(ran=True)
        open_alerts = _open_alerts(conn)
        cache: dict[tuple[int, bool], Mapping[str, Any]] = {}
        for rule in rules:
            window = Window(now - timedelta(minutes=rule.window_minutes), now)
            key = (rule.window_minutes, rule.per_component)
            if key not in cache:
                cache[key] = counts(conn, window, by_component=rule.per_component)
            scopes: dict[str | None, Mapping[str, int]]
            if rule.per_component:
                scopes = {component: cache[key][component] for component in sorted(cache[key])}
                for name, component in open_alerts:
                    if name == rule.name and component is not None:
                        scopes.setdefault(component, {})
            else:
                scopes = {None: cache[key]}
            for component, component_counts in scopes.items():
                rate = compute(
                    rule.definition,
                    component_counts,
                    threshold=rule.limit,
                    operator=rule.op,
                    min_samples=rule.min_samples,
                )
                _step(conn, rule, component, rate, open_alerts.get((rule.name, component)), now, result)
        if result.refreshed:
            with conn.cursor() as cur:
                cur.executemany(_REFRESH, result.refreshed)
        return result


def list_alerts(conn: psycopg.Connection, state: State | None = None, limit: int = 100) -> list[Alert]:
    """Alerts, most recently started first."""
    where = "WHERE state = %(state)s" if state else ""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM alerts {where} ORDER BY started_at DESC, id DESC LIMIT %(limit)s",
            {"state": state.value if state else None, "limit": limit},
        ).fetchall()
    return [Alert.from_row(r) for r in rows]


def get_alert(conn: psycopg.Connection, alert_id: int) -> Alert | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    return Alert.from_row(row) if row else None


def acknowledge(conn: psycopg.Connection, alert_id: int, by: str, note: str | None, now: datetime) -> Alert | None:
    """Marks an alert acknowledged (no more reminders); the first acknowledgement stands. None if unknown."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"""UPDATE alerts SET acknowledged_at = %s, acknowledged_by = %s, acknowledge_note = %s
                WHERE id = %s AND acknowledged_at IS NULL RETURNING {_COLUMNS}""",
            (now, by, note, alert_id),
        ).fetchone()
    return Alert.from_row(row) if row else get_alert(conn, alert_id)


def purge_resolved(conn: psycopg.Connection, before: datetime) -> int:
    """Deletes alerts resolved before the cutoff, and sent notifications older than it; returns alerts deleted."""
    with conn.transaction():
        deleted = conn.execute("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < %s", (before,)).rowcount
        conn.execute("DELETE FROM alert_outbox WHERE sent_at IS NOT NULL AND sent_at < %s", (before,))
    return deleted


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    kind: Kind
    payload: dict[str, Any]
    attempts: int


@dataclass
class Delivery:
    """What one pass over the outbox did; error is the failure that stopped it, if any."""

    sent: int = 0
    failed: int = 0
    error: str | None = None


Transaction = Callable[[], AbstractContextManager[psycopg.Connection]]


def _next_unsent(conn: psycopg.Connection) -> OutboxEntry | None:
    # SKIP LOCKED: a concurrent publisher takes the next entry instead of sending this one again.
    row = conn.execute(
        """SELECT id, kind, payload, attempts FROM alert_outbox WHERE sent_at IS NULL
           ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"""
    ).fetchone()
    return OutboxEntry(row[0], Kind(row[1]), row[2], row[3]) if row else None


def publish_outbox(transaction: Transaction, publish: Callable[[OutboxEntry], None], *, limit: int = 100) -> Delivery:
    """Publishes unsent notifications in order, each in a transaction of its own.

    A failed publish stays in the outbox (with its error) and stops the pass: the next run
    retries it first, so notifications about one alert never overtake each other.
    """
    delivery = Delivery()
    for _ in range(limit):
        with transaction() as conn:
            entry = _next_unsent(conn)
            if entry is None:
                break
            try:
                publish(entry)
            except Exception as exc:
                conn.execute(
                    "UPDATE alert_outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
                    (f"{type(exc).__name__}: {exc}"[:1000], entry.id),
                )
                delivery.failed += 1
                delivery.error = f"{type(exc).__name__}: {exc}"
                break
            conn.execute(
                "UPDATE alert_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = %s",
                (entry.id,),
            )
            delivery.sent += 1
    return delivery


def unsent(conn: psycopg.Connection) -> Iterator[OutboxEntry]:
    """Notifications not yet accepted by the topic, oldest first."""
    rows = conn.execute("SELECT id, kind, payload, attempts FROM alert_outbox WHERE sent_at IS NULL ORDER BY id")
    for row in rows.fetchall():
        yield OutboxEntry(row[0], Kind(row[1]), row[2], row[3])
