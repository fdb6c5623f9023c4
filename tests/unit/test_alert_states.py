"""The alert state machine, without a database: pending -> firing -> resolved, reminders, and its laws."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.alert_states import Alert, AlertValues, Kind, State, Step, hush, plan, step
from resilience.rates import Rate
from resilience.rules import Rule

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ROLLBACKS = Rule(name="rollbacks", metric="rollback_rate", window_minutes=5, pending_minutes=10, repeat_minutes=60)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def rollbacks(rule: Rule, rolled_back: int, succeeded: int) -> Rate:
    return rule.rate({"optimistic_action_rollback": rolled_back, "optimistic_action_success": succeeded})


BREACH = {"rolled_back": 10, "succeeded": 10}
HEALTHY = {"rolled_back": 0, "succeeded": 50}
TOO_FEW = {"rolled_back": 5, "succeeded": 0}


def stored(values: AlertValues | None, alert_id: int = 1) -> Alert | None:
    """The alert as the store keeps it: a new one gets its id, a resolved one is no longer open."""
    if values is None:
        return None
    computed = set(AlertValues.model_computed_fields)
    alert = values if isinstance(values, Alert) else Alert(id=alert_id, **values.model_dump(exclude=computed))
    return None if alert.state is State.RESOLVED else alert


def timeline(rule: Rule, *observations: tuple[float, dict[str, int]]) -> list[Step]:
    """The steps of one rule over all components, at each (minute, counts), the store following them."""
    alert: Alert | None = None
    steps = []
    for at, counts in observations:
        steps.append(step(rule, None, alert, rollbacks(rule, **counts), minutes(at)))
        alert = stored(steps[-1].after, alert_id=len(steps))
    return steps


def kinds(steps: Sequence[Step]) -> list[Kind]:
    return [s.notification for s in steps if s.notification is not None]


def test_a_breach_waits_out_the_pending_period_before_firing() -> None:
    first, second, third = timeline(ROLLBACKS, (0, BREACH), (5, BREACH), (10, BREACH))
    assert first.after is not None
    assert (first.after.state, first.after.value, first.after.denominator) == (State.PENDING, 50.0, 20)
    assert (first.notification, second.notification) == (None, None)
    assert third.after is not None
    assert (third.after.state, third.after.started_at, third.after.fired_at) == (State.FIRING, minutes(0), minutes(10))
    assert third.notification is Kind.FIRING
    assert third.describe() == "rollbacks all components: firing"


def test_no_pending_period_fires_at_once() -> None:
    [opened] = timeline(ROLLBACKS.model_copy(update={"pending_minutes": 0}), (0, BREACH))
    assert opened.after is not None
    assert opened.after.state is State.FIRING
    assert opened.notification is Kind.FIRING


def test_a_breach_that_clears_while_pending_is_dropped_without_a_word() -> None:
    opened, cleared = timeline(ROLLBACKS, (0, BREACH), (5, HEALTHY))
    assert opened.after is not None
    assert (cleared.after, cleared.notification) == (None, None)
    assert cleared.describe() == "rollbacks all components: cleared while pending"


def test_a_recovered_rate_resolves_a_firing_alert_with_one_notification() -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0})
    steps = timeline(rule, (0, BREACH), (5, HEALTHY), (10, HEALTHY))
    resolved = steps[1].after
    assert resolved is not None
    assert (resolved.state, resolved.resolved_at, resolved.value) == (State.RESOLVED, minutes(5), 0.0)
    assert kinds(steps) == [Kind.FIRING, Kind.RESOLVED]


def test_too_few_samples_neither_fire_nor_resolve() -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0})
    steps = timeline(rule, (0, TOO_FEW), (5, BREACH), (10, TOO_FEW), (15, TOO_FEW), (20, HEALTHY))
    assert steps[0].after is None
    assert all(s.after is s.before for s in steps[2:4])
    assert kinds(steps) == [Kind.FIRING, Kind.RESOLVED]


def test_reminders_come_every_repeat_interval_until_acknowledged() -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0, "repeat_minutes": 60})
    assert kinds(timeline(rule, *[(m, BREACH) for m in range(0, 125, 5)])) == [
        Kind.FIRING,
        Kind.REMINDER,
        Kind.REMINDER,
    ]
    [firing] = timeline(rule, (0, BREACH))
    acknowledged = stored(firing.after)
    assert acknowledged is not None
    acknowledged = acknowledged.model_copy(update={"acknowledged_at": minutes(1), "acknowledged_by": "ana"})
    later = step(rule, None, acknowledged, rollbacks(rule, **BREACH), minutes(300))
    assert later.notification is None
    assert later.after is not None
    assert later.after.evaluated_at == minutes(300)


def test_a_per_component_rule_keeps_judging_a_component_that_went_quiet() -> None:
    rule = ROLLBACKS.model_copy(update={"per_component": True, "pending_minutes": 0})
    [opened] = plan([rule], {}, {(5, True): {"Checkout": {"optimistic_action_rollback": 10}}}, minutes(0))
    alert = stored(opened.after)
    assert alert is not None
    quiet = plan([rule], {("rollbacks", "Checkout"): alert}, {(5, True): {"Search": {}}}, minutes(5))
    assert [(s.component, s.after is s.before) for s in quiet] == [("Search", True), ("Checkout", True)]


def test_each_rule_reads_the_counts_of_its_own_window_and_scope() -> None:
    overall = ROLLBACKS.model_copy(update={"pending_minutes": 0})
    per_component = overall.model_copy(update={"name": "by_component", "per_component": True, "window_minutes": 15})
    counts = {(5, False): {"optimistic_action_rollback": 10}, (15, True): {"A": {"optimistic_action_success": 10}}}
    steps = plan([overall, per_component], {}, counts, minutes(0))
    assert [(s.rule.name, s.component, s.notification) for s in steps] == [
        ("rollbacks", None, Kind.FIRING),
        ("by_component", "A", None),
    ]


# ---- laws, over any rule and any sequence of observations --------------------------------------

observations = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=90),  # minutes since the previous evaluation
        st.integers(min_value=0, max_value=30),  # rollbacks
        st.integers(min_value=0, max_value=30),  # successes
        st.booleans(),  # someone acknowledges the open alert first
    ),
    max_size=40,
)
Seen = list[tuple[int, int, int, bool]]
rules = st.builds(
    Rule,
    name=st.just("rollbacks"),
    metric=st.just("rollback_rate"),
    threshold=st.floats(min_value=0, max_value=100),
    min_samples=st.integers(min_value=1, max_value=25),
    pending_minutes=st.integers(min_value=0, max_value=60),
    repeat_minutes=st.integers(min_value=0, max_value=180),
)


def evaluations(rule: Rule, seen: Seen) -> list[Step]:
    """Runs the machine over the observations, the store following each step and people acknowledging."""
    at, alert, steps = T0, None, []
    for gap, rolled_back, succeeded, acknowledges in seen:
        at += timedelta(minutes=gap)
        if acknowledges and alert is not None and alert.acknowledged_at is None:
            alert = alert.model_copy(update={"acknowledged_at": at, "acknowledged_by": "ana"})
        steps.append(step(rule, None, alert, rollbacks(rule, rolled_back, succeeded), at))
        alert = stored(steps[-1].after, alert_id=len(steps))
    return steps


@settings(max_examples=200, deadline=None)
@given(rule=rules, seen=observations)
def test_one_notification_per_transition_and_none_without_one(rule: Rule, seen: Seen) -> None:
    for s in evaluations(rule, seen):
        before = s.before.state if s.before else None
        after = s.after.state if s.after else None
        fired = after is State.FIRING and before is not State.FIRING
        resolved = after is State.RESOLVED
        # A reminder is the one step that tells again about an alert whose state stays firing.
        retold = s.after is not None and s.before is not None and s.after.last_notified_at != s.before.last_notified_at
        reminded = before is State.FIRING and after is State.FIRING and retold
        expected = Kind.FIRING if fired else Kind.RESOLVED if resolved else Kind.REMINDER if reminded else None
        assert s.notification is expected


@settings(max_examples=200, deadline=None)
@given(rule=rules, seen=observations)
def test_an_alert_is_never_resolved_before_it_fired(rule: Rule, seen: Seen) -> None:
    for s in evaluations(rule, seen):
        if s.after is not None and s.after.state is State.RESOLVED:
            assert s.before is not None
            assert s.before.state is State.FIRING
            assert s.after.fired_at is not None


@settings(max_examples=200, deadline=None)
@given(rule=rules, seen=observations)
def test_no_reminder_once_acknowledged(rule: Rule, seen: Seen) -> None:
    for s in evaluations(rule, seen):
        if s.before is not None and s.before.acknowledged_at is not None:
            assert s.notification is not Kind.REMINDER


@settings(max_examples=200, deadline=None)
@given(rule=rules, seen=observations)
def test_below_the_minimum_samples_nothing_changes(rule: Rule, seen: Seen) -> None:
    for s in evaluations(rule, seen):
        if s.rate.denominator < rule.min_samples:
            assert s.after is s.before
            assert s.notification is None


@settings(max_examples=200, deadline=None)
@given(rule=rules, seen=observations)
def test_an_alert_fires_once_and_reminds_at_most_every_repeat_interval(rule: Rule, seen: Seen) -> None:
    told: dict[datetime, list[tuple[Kind, datetime]]] = {}
    for s in evaluations(rule, seen):
        if s.notification is not None and s.after is not None:
            told.setdefault(s.after.started_at, []).append((s.notification, s.after.evaluated_at))
    for notifications in told.values():
        sequence = [kind for kind, _ in notifications]
        assert sequence[0] is Kind.FIRING
        assert sequence.count(Kind.FIRING) == 1
        assert Kind.RESOLVED not in sequence[:-1]
        reminders = [at for kind, at in notifications if kind is not Kind.RESOLVED]
        gaps = [later - earlier for earlier, later in pairwise(reminders)]
        assert all(gap >= timedelta(minutes=rule.repeat_minutes) for gap in gaps)
        assert rule.repeat_minutes > 0 or len(reminders) == 1


# ---- silences and mute times -------------------------------------------------------------------

SILENCER = "silence 1 by ana"


def hushed_evaluations(rule: Rule, seen: Seen, silenced: list[bool]) -> list[Step]:
    """As evaluations, with a silence in force at the evaluations where `silenced` says so."""
    at, alert, steps = T0, None, []
    for (gap, rolled_back, succeeded, acknowledges), quiet in zip(seen, silenced, strict=False):
        at += timedelta(minutes=gap)
        if acknowledges and alert is not None and alert.acknowledged_at is None:
            alert = alert.model_copy(update={"acknowledged_at": at, "acknowledged_by": "ana"})
        moved = step(rule, None, alert, rollbacks(rule, rolled_back, succeeded), at)
        steps.append(hush(moved, SILENCER if quiet else None, at))
        alert = stored(steps[-1].after, alert_id=len(steps))
    return steps


@settings(max_examples=200, deadline=None)
@given(rule=rules, seen=observations, silenced=st.lists(st.booleans(), min_size=40, max_size=40))
def test_a_silenced_alert_changes_state_but_sends_nothing(rule: Rule, seen: Seen, silenced: list[bool]) -> None:
    plain = evaluations(rule, seen)
    hushed = hushed_evaluations(rule, seen, silenced)
    for quiet, free, s in zip(silenced, plain, hushed, strict=False):
        if quiet:
            assert s.notification is None
            assert s.after is None or s.after.silenced_by == SILENCER
        # The states move as without the silence.
        assert (free.after.state if free.after else None) == (s.after.state if s.after else None)


@settings(max_examples=200, deadline=None)
@given(rule=rules, seen=observations, silenced=st.lists(st.booleans(), min_size=40, max_size=40))
def test_what_a_silence_held_back_is_told_once_when_it_ends_if_still_firing(
    rule: Rule, seen: Seen, silenced: list[bool]
) -> None:
    steps = hushed_evaluations(rule, seen, silenced)
    for s, quiet in zip(steps, silenced, strict=False):
        owed = s.before is not None and s.before.notice_owed
        if not quiet and owed and s.after is not None and s.after.state is State.FIRING:
            if s.after.acknowledged_at is None:
                assert s.notification in (Kind.FIRING, Kind.REMINDER)
            assert not s.after.notice_owed
    # Every alert is told it fires at most once, and is told it resolved only if told it fired.
    told: dict[datetime, list[Kind]] = {}
    for s in steps:
        if s.notification is not None and s.after is not None:
            told.setdefault(s.after.started_at, []).append(s.notification)
    for kinds_told in told.values():
        assert kinds_told.count(Kind.FIRING) <= 1
        assert Kind.RESOLVED not in kinds_told or kinds_told.index(Kind.RESOLVED) > 0


def test_an_alert_firing_through_a_silence_is_told_once_when_it_ends() -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0, "repeat_minutes": 10})
    alert: Alert | None = None
    told = []
    for minute, quiet in ((0, True), (15, True), (30, True), (35, False), (40, False)):
        s = hush(
            step(rule, None, alert, rollbacks(rule, **BREACH), minutes(minute)),
            SILENCER if quiet else None,
            minutes(minute),
        )
        told.append(s.notification)
        alert = stored(s.after)
    assert told == [None, None, None, Kind.FIRING, None]
    assert alert is not None
    assert (alert.silenced_by, alert.notice_owed, alert.last_notified_at) == (None, False, minutes(35))


def test_a_resolution_during_a_silence_is_recorded_not_sent() -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0})
    fired = step(rule, None, None, rollbacks(rule, **BREACH), minutes(0))
    assert fired.notification is Kind.FIRING
    resolved = hush(step(rule, None, stored(fired.after), rollbacks(rule, **HEALTHY), minutes(5)), SILENCER, minutes(5))
    assert resolved.notification is None
    assert resolved.held is Kind.RESOLVED
    assert [e.kind.value for e in resolved.events(minutes(5))] == ["resolved", "silenced", "held"]


def test_a_breach_that_starts_and_ends_inside_a_silence_is_never_told() -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0})
    opened = hush(step(rule, None, None, rollbacks(rule, **BREACH), minutes(0)), SILENCER, minutes(0))
    after = hush(step(rule, None, stored(opened.after), rollbacks(rule, **HEALTHY), minutes(5)), None, minutes(5))
    assert (opened.notification, after.notification) == (None, None)
    assert after.after is not None
    assert after.after.state is State.RESOLVED
