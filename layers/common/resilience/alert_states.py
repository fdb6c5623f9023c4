"""Alert states: the alert, and the state machine that moves it (pending -> firing -> resolved) and says whom to tell.

Pure: the state, the observed rate, the rule and the time go in; the next state and the notification
come out. Storing them (resilience/store/alerts.py, resilience/store/outbox.py) is the caller's part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from resilience.rates import Operator, Rate, Status
from resilience.rules import Rule, Severity
from resilience.timestamps import Timestamp
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


class AlertValues(BaseModel):
    """What an alert says: every field but the id the database gives it when it is first stored."""

    # Built on first use: functions that never see an alert never pay for its validator.
    model_config = ConfigDict(frozen=True, defer_build=True)

    rule: str
    metric: str
    component: str | None = Field(description="null for a rule over all components")
    state: State
    severity: Severity
    operator: Operator
    value: float
    threshold: float
    numerator: int
    denominator: int
    window_minutes: int
    started_at: Timestamp = Field(description="When the breach was first seen")
    fired_at: Timestamp | None
    resolved_at: Timestamp | None
    evaluated_at: Timestamp
    last_notified_at: Timestamp | None
    acknowledged_at: Timestamp | None = None
    acknowledged_by: str | None = None
    acknowledge_note: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def samples(self) -> int:
        """The rate's denominator: how many outcomes it was computed from."""
        return self.denominator


class Alert(AlertValues):
    """An alert as stored: the one shape of an alert, for the API, the notifications and the table."""

    id: int


Scope = tuple[str, str | None]
"""An alert's rule name and component (None: all components); at most one open alert each."""


@dataclass(frozen=True)
class Step:
    """What one evaluation does for one rule and scope: the alert before and after, and the notification."""

    rule: Rule
    component: str | None
    rate: Rate
    before: Alert | None
    # None: no alert (or, with an alert before, it is deleted); `before` itself: nothing to write.
    after: AlertValues | None
    notification: Kind | None = None

    def describe(self) -> str | None:
        """The transition as a line of the evaluation's log, or None when the state stays."""
        scope = self.component or "all components"
        if self.after is None and self.before is not None:
            return f"{self.rule.name} {scope}: cleared while pending"
        if self.after is not None and (self.before is None or self.notification is not None):
            return f"{self.rule.name} {scope}: {self.notification or self.after.state}"
        return None


def _opened(rule: Rule, component: str | None, rate: Rate, now: datetime) -> AlertValues:
    """A new alert for a breaching rate (which always has a value)."""
    fires = rule.pending_minutes == 0
    return AlertValues(
        rule=rule.name,
        metric=rule.metric,
        component=component,
        state=State.FIRING if fires else State.PENDING,
        severity=rule.severity,
        operator=rule.op,
        value=rate.value if rate.value is not None else 0.0,
        threshold=rule.limit,
        numerator=rate.numerator,
        denominator=rate.denominator,
        window_minutes=rule.window_minutes,
        started_at=now,
        fired_at=now if fires else None,
        resolved_at=None,
        evaluated_at=now,
        last_notified_at=now if fires else None,
    )


def _observed(alert: Alert, rate: Rate, now: datetime, **changes: Any) -> Alert:
    """The alert with the latest value of its rate, and the given changes."""
    observed = {"value": rate.value, "numerator": rate.numerator, "denominator": rate.denominator}
    return alert.model_copy(update={**observed, "evaluated_at": now, **changes})


def _reminder_due(rule: Rule, alert: Alert, now: datetime) -> bool:
    if rule.repeat_minutes == 0 or alert.acknowledged_at is not None:
        return False
    last = alert.last_notified_at or alert.fired_at or alert.started_at
    return now - last >= timedelta(minutes=rule.repeat_minutes)


def step(rule: Rule, component: str | None, alert: Alert | None, rate: Rate, now: datetime) -> Step:
    """The next state of one rule and scope's open alert (if any) given its rate now, and whom to tell."""
    unchanged = Step(rule, component, rate, alert, alert)
    if rate.status is Status.NO_DATA:
        # Too few samples to judge: an open alert neither fires nor resolves on them.
        return unchanged
    if rate.status is Status.HEALTHY:
        if alert is None:
            return unchanged
        if alert.state is State.PENDING:
            # The breach cleared before the pending period passed: nobody was told, nothing to resolve.
            return Step(rule, component, rate, alert, None)
        resolved = _observed(alert, rate, now, state=State.RESOLVED, resolved_at=now)
        return Step(rule, component, rate, alert, resolved, Kind.RESOLVED)
    if alert is None:
        opened = _opened(rule, component, rate, now)
        return Step(rule, component, rate, None, opened, Kind.FIRING if opened.state is State.FIRING else None)
    if alert.state is State.PENDING:
        if now - alert.started_at >= timedelta(minutes=rule.pending_minutes):
            fired = _observed(alert, rate, now, state=State.FIRING, fired_at=now, last_notified_at=now)
            return Step(rule, component, rate, alert, fired, Kind.FIRING)
        return Step(rule, component, rate, alert, _observed(alert, rate, now))
    if _reminder_due(rule, alert, now):
        return Step(rule, component, rate, alert, _observed(alert, rate, now, last_notified_at=now), Kind.REMINDER)
    return Step(rule, component, rate, alert, _observed(alert, rate, now))


CountsKey = tuple[int, bool]
"""What a rule counts: the minutes of its window, and whether per component."""


def counts_key(rule: Rule) -> CountsKey:
    return (rule.window_minutes, rule.per_component)


def counting_window(key: CountsKey, now: datetime) -> Window:
    """The window [now - its minutes, now) a rule's rate is computed over."""
    return Window(now - timedelta(minutes=key[0]), now)


def plan(
    rules: Sequence[Rule],
    open_alerts: Mapping[Scope, Alert],
    counts: Mapping[CountsKey, Mapping[str, Any]],
    now: datetime,
) -> list[Step]:
    """Every rule's steps as of now, given the open alerts and the counts of each counts_key.

    A per-component rule is judged for every component with events in its window, and for every
    component it has an open alert for (with no events, its rate is no data: the alert stays).
    """
    steps = []
    for rule in rules:
        counted = counts[counts_key(rule)]
        scopes: dict[str | None, Mapping[str, int]]
        if rule.per_component:
            scopes = {component: counted[component] for component in sorted(counted)}
            for name, component in open_alerts:
                if name == rule.name and component is not None:
                    scopes.setdefault(component, {})
        else:
            scopes = {None: counted}
        for component, component_counts in scopes.items():
            alert = open_alerts.get((rule.name, component))
            steps.append(step(rule, component, alert, rule.rate(component_counts), now))
    return steps
