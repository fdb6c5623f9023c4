"""One alert evaluation: under the lease, every rule's step, stored with its notifications and timeline at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from resilience.alert_states import Alert, AlertEvent, CountsKey, Kind, Step, counting_window, counts_keys, plan
from resilience.heartbeats import Job
from resilience.notify import group, message
from resilience.rates import Status
from resilience.rules import AlertRule
from resilience.store import alerts, job_runs, lease, outbox, silences
from resilience.store.counts import totals, windows_counts
from resilience.store.database import Connection


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
    held: int = 0
    skipped_low_volume: int = 0
    transitions: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, steps: Sequence[Step]) -> Evaluation:
        kinds = [s.notification for s in steps]
        return cls(
            ran=True,
            opened=sum(1 for s in steps if s.before is None and s.after is not None),
            fired=kinds.count(Kind.FIRING),
            reminded=kinds.count(Kind.REMINDER),
            resolved=kinds.count(Kind.RESOLVED),
            cleared=sum(1 for s in steps if s.before is not None and s.after is None),
            notifications=sum(1 for kind in kinds if kind is not None),
            held=sum(1 for s in steps if s.held is not None),
            skipped_low_volume=sum(1 for s in steps if s.before is not None and s.rate.status is Status.NO_DATA),
            transitions=[line for s in steps if (line := s.describe()) is not None],
        )


def _counts(conn: Connection, rules: Sequence[AlertRule], now: datetime) -> Mapping[CountsKey, Mapping[str, Any]]:
    """The counts each rule needs, all windows counted in one statement (long ones mostly from the rollups).

    Every window ends now, so the time they share is counted once; with any rule per component,
    the counts for all components are those per component summed.
    """
    keys = list(dict.fromkeys(key for rule in rules for key in counts_keys(rule)))
    per_component = any(by_component for _, by_component in keys)
    minutes = list(dict.fromkeys(m for m, _ in keys))
    windows = [counting_window((m, per_component), now) for m in minutes]
    counted = dict(zip(minutes, windows_counts(conn, windows, by_component=per_component), strict=True))
    return {key: counted[key[0]] if key[1] == per_component else totals(counted[key[0]]) for key in keys}


def _store(conn: Connection, steps: Sequence[Step], now: datetime) -> None:
    """Writes each step's alert and timeline and queues its notifications, grouped per severity.

    One statement for each kind of write, whatever the number of alerts.
    """
    changed = [s for s in steps if s.after is not s.before]
    alerts.delete(conn, [s.before.id for s in changed if s.after is None and s.before is not None])
    opened = [s.after for s in changed if s.after is not None and not isinstance(s.after, Alert)]
    new = iter(alerts.insert(conn, opened))
    kept: list[Alert] = []
    messages = []
    events: list[tuple[int, AlertEvent]] = []
    for s in changed:
        if s.after is None:
            continue
        if isinstance(s.after, Alert):
            kept.append(s.after)
            stored = s.after
        else:
            stored = next(new)
        events += [(stored.id, event) for event in s.events(now)]
        if s.notification is not None:
            messages.append(message(s.notification, stored, s.rule, now))
    alerts.write(conn, kept)
    alerts.record(conn, events)
    outbox.enqueue(conn, group(messages))


def evaluate(conn: Connection, rules: Sequence[AlertRule], *, now: datetime) -> Evaluation:
    """Evaluates every rule as of `now` in one transaction; an overlapping evaluation skips its turn.

    State changes and the notifications they cause are committed together, so a crash loses
    neither and a second run finds the state already changed and adds no notification.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    with conn.transaction():
        reason = lease.acquire(conn, now)
        if reason:
            return Evaluation(ran=False, reason=reason)
        steps = plan(rules, alerts.open_alerts(conn), _counts(conn, rules, now), now, silences.in_force(conn, now))
        _store(conn, steps, now)
        job_runs.record(conn, Job.ALERT_EVALUATION, now)
        return Evaluation.of(steps)
