"""The alerts table written in batches: every field of every alert comes back as it went in, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from resilience.alert_states import AlertEvent, AlertValues, EventKind, State
from resilience.rates import Operator
from resilience.rules import Severity
from resilience.store import alerts

T0 = datetime(2026, 11, 2, 12, 0, 0, 123456, tzinfo=UTC)


def alert(component: str | None, **fields: object) -> AlertValues:
    """An alert with every field set, none left to its default."""
    values = {
        "rule": "recovery-page",
        "metric": "error_recovery_rate",
        "component": component,
        "state": State.FIRING,
        "severity": Severity.CRITICAL,
        "operator": Operator.GT,
        "value": 14.400000000000002,
        "threshold": 0.1 + 0.2,
        "numerator": 2_000_000_000,
        "denominator": 2_100_000_000,
        "window_minutes": 4320,
        "started_at": T0,
        "fired_at": T0 + timedelta(minutes=1),
        "resolved_at": None,
        "evaluated_at": T0 + timedelta(minutes=2),
        "last_notified_at": T0 + timedelta(minutes=3),
        "acknowledged_at": T0 + timedelta(minutes=4),
        "acknowledged_by": "ana",
        "acknowledge_note": "on it, 'quoted' and \"double\" {braces}, NULL",
        "objective": 99.9,
        "silenced_by": "silence 7 by ana",
        "notice_owed": True,
    }
    return AlertValues.model_validate({**values, **fields})


def test_new_alerts_are_stored_in_one_go_and_returned_in_the_order_given(db: psycopg.Connection) -> None:
    given = [alert("Zeta"), alert(None, state=State.PENDING, fired_at=None), alert("Alpha", objective=None)]
    stored = alerts.insert(db, given)
    assert [AlertValues.model_validate(a.model_dump()) for a in stored] == given
    assert len({a.id for a in stored}) == 3
    assert {a.id: a for a in alerts.list_alerts(db)} == {a.id: a for a in stored}
    assert alerts.insert(db, []) == []


def test_kept_alerts_are_rewritten_and_cleared_ones_deleted_in_one_go(db: psycopg.Connection) -> None:
    first, second, third = alerts.insert(db, [alert("A"), alert("B"), alert("C")])
    changed = [
        first.model_copy(update={"state": State.RESOLVED, "resolved_at": T0 + timedelta(hours=1), "value": 0.5}),
        second.model_copy(update={"silenced_by": None, "notice_owed": False, "last_notified_at": None}),
    ]
    alerts.write(db, changed)
    alerts.delete(db, [third.id])
    assert sorted(alerts.list_alerts(db), key=lambda a: a.id) == changed
    alerts.write(db, [])
    alerts.delete(db, [])
    assert len(alerts.list_alerts(db)) == 2


def test_timeline_entries_added_together_keep_their_order(db: psycopg.Connection) -> None:
    one, two = alerts.insert(db, [alert("A"), alert("B")])
    entries = [
        (one.id, AlertEvent(at=T0, kind=EventKind.FIRING)),
        (two.id, AlertEvent(at=T0, kind=EventKind.SILENCED, detail="silence 7 by ana")),
        (one.id, AlertEvent(at=T0, kind=EventKind.HELD, detail="firing notification")),
        (one.id, AlertEvent(at=T0, kind=EventKind.ACKNOWLEDGED, by="ana", note="mine")),
    ]
    alerts.record(db, entries)
    assert alerts.timeline(db, one.id) == [event for alert_id, event in entries if alert_id == one.id]
    assert alerts.timeline(db, two.id) == [entries[1][1]]
