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
from resilience.store.counts import signal_counts
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
    """The counts each rule needs, each window and scope counted once (long windows mostly from the rollups)."""
    keys = dict.fromkeys(key for rule in rules for key in counts_keys(rule))
    return {key: signal_counts(conn, counting_window(key, now), by_component=key[1]) for key in keys}


def _store(conn: Connection, steps: Sequence[Step], now: datetime) -> None:
    """Writes each step's alert and timeline and queues its notifications, grouped per severity."""
    kept: list[Alert] = []
    messages = []
    events: list[tuple[int, AlertEvent]] = []
    for s in steps:
        before, after = s.before, s.after
        if after is before:
            continue
        if after is None:
            if before is not None:
                alerts.delete(conn, before.id)
            continue
        if isinstance(after, Alert):
            kept.append(after)
            stored = after
        else:
            stored = alerts.insert(conn, after)
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
