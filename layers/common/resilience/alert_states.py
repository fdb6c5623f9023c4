"""Alert states: the alert, and the state machine that moves it (pending -> firing -> resolved) and says whom to tell.

Pure: the state, the observed rate, the rule and the time go in; the next state and the notification
come out. Storing them (resilience/store/alerts.py, resilience/store/outbox.py) is the caller's part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from resilience.rates import Operator, Rate, Status
from resilience.rules import AlertRule, BurnRateRule, Severity
from resilience.silences import Silence, silenced_by_component
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
    objective: float | None = Field(
        default=None, description="A burn-rate alert's objective in percent (value and threshold are burn rates)"
    )
    silenced_by: str | None = Field(default=None, description="The silence or mute time keeping it quiet, if any")
    notice_owed: bool = Field(
        default=False, description="A notification was held back while silenced: sent when the silence ends"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def samples(self) -> int:
        """The rate's denominator: how many outcomes it was computed from."""
        return self.denominator

    @computed_field  # type: ignore[prop-decorator]
    @property
    def silenced(self) -> bool:
        """Whether a silence or mute time keeps the alert from notifying."""
        return self.silenced_by is not None


class Alert(AlertValues):
    """An alert as stored: the one shape of an alert, for the API, the notifications and the table."""

    id: int


class EventKind(StrEnum):
    """What an alert's timeline records."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    NOTIFIED = "notified"
    HELD = "held"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    UNSILENCED = "unsilenced"


class AlertEvent(BaseModel):
    """One entry of an alert's timeline, recorded when it happened."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    at: Timestamp
    kind: EventKind
    by: str | None = Field(default=None, description="Who acknowledged")
    note: str | None = Field(default=None, description="The acknowledgement's note")
    detail: str | None = Field(default=None, description="Which notification; what silenced it")


class AlertWithTimeline(Alert):
    """An alert and everything that happened to it, in the order it was recorded."""

    timeline: list[AlertEvent]


Scope = tuple[str, str | None]
"""An alert's rule name and component (None: all components); at most one open alert each."""


@dataclass(frozen=True)
class Step:
    """What one evaluation does for one rule and scope: the alert before and after, and the notification."""

    rule: AlertRule
    component: str | None
    rate: Rate
    before: Alert | None
    # None: no alert (or, with an alert before, it is deleted); `before` itself: nothing to write.
    after: AlertValues | None
    notification: Kind | None = None
    # A notification a silence or mute time kept back.
    held: Kind | None = None

    def events(self, at: datetime) -> list[AlertEvent]:
        """What the alert's timeline records of this step (a notification is recorded once sent)."""
        before, after = self.before, self.after
        if after is None or after is before:
            return []
        found = []
        if before is None or before.state is not after.state:
            found.append(AlertEvent(at=at, kind=EventKind(after.state.value)))
        was = before.silenced_by if before is not None else None
        if after.silenced_by != was:
            if after.silenced_by is not None:
                found.append(AlertEvent(at=at, kind=EventKind.SILENCED, detail=after.silenced_by))
            else:
                found.append(AlertEvent(at=at, kind=EventKind.UNSILENCED, detail=was))
        if self.held is not None:
            found.append(AlertEvent(at=at, kind=EventKind.HELD, detail=f"{self.held} notification"))
        return found

    def describe(self) -> str | None:
        """The transition as a line of the evaluation's log, or None when the state stays."""
        scope = self.component or "all components"
        if self.after is None and self.before is not None:
            return f"{self.rule.name} {scope}: cleared while pending"
        if self.after is not None and (self.before is None or self.notification is not None):
            return f"{self.rule.name} {scope}: {self.notification or self.after.state}"
        return None


def _opened(rule: AlertRule, component: str | None, rate: Rate, now: datetime) -> AlertValues:
    """A new alert for a breaching rate (which always has a value), judged as the rate says."""
    fires = rule.pending_minutes == 0
    return AlertValues(
        rule=rule.name,
        metric=rule.metric,
        component=component,
        state=State.FIRING if fires else State.PENDING,
        severity=rule.severity,
        operator=rate.operator,
        value=rate.value if rate.value is not None else 0.0,
        threshold=rate.threshold,
        objective=rule.objective if isinstance(rule, BurnRateRule) else None,
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


def _reminder_due(rule: AlertRule, alert: Alert, now: datetime) -> bool:
    if rule.repeat_minutes == 0 or alert.acknowledged_at is not None:
        return False
    last = alert.last_notified_at or alert.fired_at or alert.started_at
    return now - last >= timedelta(minutes=rule.repeat_minutes)


def step(rule: AlertRule, component: str | None, alert: Alert | None, rate: Rate, now: datetime) -> Step:
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


def hush(s: Step, silencer: str | None, now: datetime) -> Step:
    """The step as a silence or mute time (`silencer`, None when there is none) lets it be.

    A silenced alert still changes state but sends nothing; a firing or reminder held back is owed,
    and sent once when the silence ends if the alert still fires unacknowledged. A resolution
    held back is not owed: the alert is over.
    """
    after = s.after
    if after is None:
        return s
    changes: dict[str, Any] = {}
    notification, held = s.notification, None
    if silencer is not None:
        if notification is not None:
            # Recorded once: reminders falling due while one is already owed add nothing to tell.
            if s.before is None or not s.before.notice_owed or notification is Kind.RESOLVED:
                held = notification
            told = s.before.last_notified_at if s.before is not None else None
            changes.update(notice_owed=notification is not Kind.RESOLVED, last_notified_at=told)
            notification = None
    elif notification is Kind.RESOLVED and after.last_notified_at is None:
        # Nobody heard it fire: its resolution is news to no one.
        notification = None
        changes["notice_owed"] = False
    elif after.notice_owed and after.state is State.FIRING:
        # One notification for all that was held back: "firing" if nobody heard it fire, else a reminder.
        if after.acknowledged_at is None:
            told = s.before.last_notified_at if s.before is not None else None
            notification = Kind.FIRING if told is None else Kind.REMINDER
            changes["last_notified_at"] = now
        changes["notice_owed"] = False
    elif notification is not None or after.state is State.RESOLVED:
        changes["notice_owed"] = False
    if silencer != after.silenced_by:
        changes["silenced_by"] = silencer
    if any(getattr(after, name) != value for name, value in changes.items()):
        changed = after.model_copy(update=changes)
        if after is s.before:
            changed = changed.model_copy(update={"evaluated_at": now})
        after = changed
    if after is s.after and notification is s.notification and held is s.held:
        return s
    return replace(s, after=after, notification=notification, held=held)


CountsKey = tuple[int, bool]
"""What a rule counts: the minutes of a window, and whether per component."""


def counts_keys(rule: AlertRule) -> list[CountsKey]:
    return [(minutes, rule.per_component) for minutes in rule.windows_minutes]


def counting_window(key: CountsKey, now: datetime) -> Window:
    """The window [now - its minutes, now) a rule's rate is computed over."""
    return Window(now - timedelta(minutes=key[0]), now)


def plan(
    rules: Sequence[AlertRule],
    open_alerts: Mapping[Scope, Alert],
    counts: Mapping[CountsKey, Mapping[str, Any]],
    now: datetime,
    silences: Iterable[Silence] = (),
) -> list[Step]:
    """Every rule's steps as of now, given the open alerts, the counts of each counts key and the silences.

    A per-component rule is judged for every component with events in its windows, and for every
    component it has an open alert for (with no events, its rate is no data: the alert stays).
    """
    silences = list(silences)
    steps = []
    for rule in rules:
        hushed_by = silenced_by_component(rule, rule.name, rule.metric, silences, now)
        counted = {minutes: counts[(minutes, rule.per_component)] for minutes in rule.windows_minutes}
        scopes: dict[str | None, dict[int, Mapping[str, int]]]
        if rule.per_component:
            components = sorted({c for per_component in counted.values() for c in per_component})
            scopes = {c: {m: counted[m].get(c, {}) for m in counted} for c in components}
            for name, component in open_alerts:
                if name == rule.name and component is not None:
                    scopes.setdefault(component, {m: {} for m in counted})
        else:
            scopes = {None: counted}
        for component, component_counts in scopes.items():
            alert = open_alerts.get((rule.name, component))
            moved = step(rule, component, alert, rule.judge(component_counts), now)
            steps.append(hush(moved, hushed_by(component), now))
    return steps
