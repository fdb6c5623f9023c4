"""Alert evaluation against Postgres: the machine's steps stored with their notifications, once, under a lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from resilience.alert_states import Kind, State
from resilience.jobs.evaluation import Evaluation, evaluate
from resilience.rules import Rule, default_rules
from resilience.store.alerts import acknowledge, list_alerts, purge_resolved, timeline
from resilience.store.outbox import unsent
from tests.conftest import run_together

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ROLLBACKS = Rule(name="rollbacks", metric="rollback_rate", window_minutes=5, pending_minutes=10, repeat_minutes=60)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def traffic(
    db: psycopg.Connection, at: datetime, *, rollbacks: int, successes: int, component: str = "Checkout"
) -> None:
    """Optimistic actions ending a minute before `at`: rollback_rate = rollbacks / (rollbacks + successes)."""
    for signal, n in (("optimistic_action_rollback", rollbacks), ("optimistic_action_success", successes)):
        db.execute(
            """INSERT INTO resilience_metrics (ts, session_id, component, signal)
               SELECT %s, 's' || g, %s, %s FROM generate_series(1, %s) g""",
            (at - timedelta(minutes=1), component, signal, n),
        )


def run(db: psycopg.Connection, at: datetime, rules: list[Rule] | None = None) -> Evaluation:
    return evaluate(db, rules or [ROLLBACKS], now=at)


def notifications(db: psycopg.Connection) -> list[tuple[str, Any]]:
    """Each queued notification's kind and component, those grouped into one message included."""
    told = [n for e in unsent(db) for n in (e.payload["notifications"] if e.kind == "group" else [e.payload])]
    return [(n["kind"], n["alert"]["component"]) for n in told]


def test_a_breach_waits_out_the_pending_period_before_firing(db: psycopg.Connection) -> None:
    traffic(db, minutes(0), rollbacks=5, successes=15)
    run(db, minutes(0))
    [alert] = list_alerts(db)
    assert (alert.state, alert.value, alert.denominator) == (State.PENDING, 25.0, 20)
    assert notifications(db) == []

    traffic(db, minutes(5), rollbacks=5, successes=15)
    run(db, minutes(5))
    assert list_alerts(db)[0].state is State.PENDING
    assert notifications(db) == []

    traffic(db, minutes(10), rollbacks=5, successes=15)
    result = run(db, minutes(10))
    [alert] = list_alerts(db)
    assert (alert.state, alert.started_at, alert.fired_at) == (State.FIRING, minutes(0), minutes(10))
    assert result.fired == 1
    assert notifications(db) == [("firing", None)]


def test_no_pending_period_fires_at_once(db: psycopg.Connection) -> None:
    traffic(db, minutes(0), rollbacks=5, successes=5)
    run(db, minutes(0), [ROLLBACKS.model_copy(update={"pending_minutes": 0})])
    assert list_alerts(db)[0].state is State.FIRING
    assert notifications(db) == [("firing", None)]


def test_below_min_samples_a_rule_does_not_fire(db: psycopg.Connection) -> None:
    for step in range(0, 60, 5):
        traffic(db, minutes(step), rollbacks=9, successes=0)  # 100 % rollbacks, but 9 < min_samples 10
        run(db, minutes(step))
    assert list_alerts(db) == []
    assert notifications(db) == []


def test_below_min_samples_a_firing_alert_does_not_resolve(db: psycopg.Connection) -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0, "repeat_minutes": 0})
    traffic(db, minutes(0), rollbacks=10, successes=10)
    run(db, minutes(0), [rule])
    for step in (5, 10, 15):
        traffic(db, minutes(step), rollbacks=0, successes=3)  # healthy, but too few to say so
        run(db, minutes(step), [rule])
    assert list_alerts(db)[0].state is State.FIRING
    traffic(db, minutes(20), rollbacks=0, successes=30)
    run(db, minutes(20), [rule])
    assert list_alerts(db)[0].state is State.RESOLVED
    assert notifications(db) == [("firing", None), ("resolved", None)]


def test_low_volume_does_not_let_a_pending_alert_fire(db: psycopg.Connection) -> None:
    traffic(db, minutes(0), rollbacks=10, successes=10)
    run(db, minutes(0))
    traffic(db, minutes(15), rollbacks=2, successes=0)
    run(db, minutes(15))
    assert list_alerts(db)[0].state is State.PENDING
    traffic(db, minutes(20), rollbacks=10, successes=10)
    run(db, minutes(20))
    assert list_alerts(db)[0].state is State.FIRING


def test_flapping_input_never_fires(db: psycopg.Connection) -> None:
    for step in range(0, 120, 5):
        breaching = step % 10 == 0
        traffic(db, minutes(step), rollbacks=10 if breaching else 0, successes=10 if breaching else 20)
        run(db, minutes(step))
    assert [a.state for a in list_alerts(db)] in ([], [State.PENDING])
    assert notifications(db) == []


def test_a_recovered_rate_resolves_the_alert_with_one_notification(db: psycopg.Connection) -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0})
    traffic(db, minutes(0), rollbacks=10, successes=10)
    run(db, minutes(0), [rule])
    traffic(db, minutes(5), rollbacks=0, successes=50)
    result = run(db, minutes(5), [rule])
    traffic(db, minutes(10), rollbacks=0, successes=50)
    run(db, minutes(10), [rule])
    [alert] = list_alerts(db)
    assert (alert.state, alert.resolved_at, alert.value) == (State.RESOLVED, minutes(5), 0.0)
    assert result.resolved == 1
    entries = list(unsent(db))
    assert [e.kind for e in entries] == [Kind.FIRING, Kind.RESOLVED]
    assert entries[1].payload["alert"]["state"] == "resolved"


def test_a_new_breach_after_resolution_is_a_new_alert(db: psycopg.Connection) -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0})
    for step, rollbacks in ((0, 10), (5, 0), (10, 10)):
        traffic(db, minutes(step), rollbacks=rollbacks, successes=10)
        run(db, minutes(step), [rule])
    assert [a.state for a in list_alerts(db)] == [State.FIRING, State.RESOLVED]
    assert [kind for kind, _ in notifications(db)] == ["firing", "resolved", "firing"]


def test_reminders_every_repeat_interval_while_firing_then_none_once_acknowledged(db: psycopg.Connection) -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0, "repeat_minutes": 60})
    for step in range(0, 125, 5):
        traffic(db, minutes(step), rollbacks=10, successes=10)
        run(db, minutes(step), [rule])
    assert [kind for kind, _ in notifications(db)] == ["firing", "reminder", "reminder"]

    [alert] = list_alerts(db)
    acknowledged = acknowledge(db, alert.id, "ana", "looking into it", minutes(121))
    assert acknowledged is not None
    assert (acknowledged.acknowledged_by, acknowledged.acknowledge_note) == ("ana", "looking into it")
    for step in range(125, 300, 5):
        traffic(db, minutes(step), rollbacks=10, successes=10)
        run(db, minutes(step), [rule])
    assert [kind for kind, _ in notifications(db)] == ["firing", "reminder", "reminder"]

    traffic(db, minutes(300), rollbacks=0, successes=50)
    run(db, minutes(300), [rule])
    assert [kind for kind, _ in notifications(db)][-1] == "resolved"


def test_acknowledging_twice_keeps_the_first_and_unknown_ids_are_none(db: psycopg.Connection) -> None:
    traffic(db, minutes(0), rollbacks=10, successes=10)
    run(db, minutes(0))
    [alert] = list_alerts(db)
    first = acknowledge(db, alert.id, "ana", None, minutes(1))
    second = acknowledge(db, alert.id, "bo", "me too", minutes(2))
    assert first is not None
    assert second is not None
    assert (second.acknowledged_by, second.acknowledged_at) == ("ana", minutes(1))
    assert acknowledge(db, alert.id + 1000, "ana", None, minutes(3)) is None


def test_per_component_and_global_rules_alert_at_once(db: psycopg.Connection) -> None:
    rules = [r.model_copy(update={"pending_minutes": 0}) for r in default_rules()]
    traffic(db, minutes(0), rollbacks=20, successes=20, component="Checkout")
    traffic(db, minutes(0), rollbacks=0, successes=40, component="Search")
    traffic(db, minutes(0), rollbacks=8, successes=0, component="Tiny")  # 100 %, but few samples
    run(db, minutes(0), rules)
    firing = {(a.rule, a.component) for a in list_alerts(db, State.FIRING)}
    # Search is healthy; Tiny breaches with too few samples of its own, yet counts towards the global rate.
    assert firing == {("rollback_rate", None), ("rollback_rate_by_component", "Checkout")}
    assert sorted(notifications(db), key=str) == [("firing", "Checkout"), ("firing", None)]


def test_one_evaluation_opens_keeps_clears_and_fires_many_alerts_each_as_its_own_step_says(
    db: psycopg.Connection,
) -> None:
    rule = ROLLBACKS.model_copy(update={"name": "rollbacks_by_component", "per_component": True})
    for component in ("A", "B", "C"):
        traffic(db, minutes(0), rollbacks=10, successes=10, component=component)
    assert run(db, minutes(0), [rule]).opened == 3

    traffic(db, minutes(5), rollbacks=0, successes=20, component="A")  # healthy: cleared while pending
    traffic(db, minutes(5), rollbacks=10, successes=10, component="B")  # still breaching
    traffic(db, minutes(5), rollbacks=10, successes=10, component="D")  # a new breach; C has no data
    result = run(db, minutes(5), [rule])
    assert (result.opened, result.cleared) == (1, 1)
    found = {a.component: a for a in list_alerts(db)}
    assert sorted(found) == ["B", "C", "D"]
    assert {c: (a.started_at, a.evaluated_at) for c, a in found.items()} == {
        "B": (minutes(0), minutes(5)),
        "C": (minutes(0), minutes(0)),
        "D": (minutes(5), minutes(5)),
    }

    traffic(db, minutes(10), rollbacks=12, successes=8, component="B")
    traffic(db, minutes(10), rollbacks=10, successes=10, component="D")
    assert run(db, minutes(10), [rule]).fired == 1
    found = {a.component: a for a in list_alerts(db)}
    assert {c: (a.state, a.value) for c, a in found.items()} == {
        "B": (State.FIRING, 60.0),
        "C": (State.PENDING, 50.0),
        "D": (State.PENDING, 50.0),
    }
    assert notifications(db) == [("firing", "B")]
    assert [e.kind for e in timeline(db, found["B"].id)] == ["pending", "firing"]
    assert [e.kind for e in timeline(db, found["D"].id)] == ["pending"]


def test_an_evaluation_that_overlaps_another_skips_its_turn(db: psycopg.Connection, database_url: str) -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0})
    traffic(db, minutes(0), rollbacks=10, successes=10)
    with psycopg.connect(database_url, autocommit=True) as other, db.transaction():
        first = run(db, minutes(0), [rule])
        second = run(other, minutes(0), [rule])
    assert (first.ran, second.ran) == (True, False)
    assert second.reason == "another evaluation is running"
    again = run(db, minutes(0), [rule])
    assert again.ran
    assert again.notifications == 0
    assert notifications(db) == [("firing", None)]


def evaluate_at_once(database_url: str, times: int) -> list[Evaluation]:
    """That many evaluations of one breaching rule, released together on connections of their own."""
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0})

    def evaluation() -> Evaluation:
        with psycopg.connect(database_url, autocommit=True, options="-c timezone=UTC") as conn:
            return run(conn, minutes(0), [rule])

    return run_together(evaluation, times)


def test_four_evaluations_at_once_produce_one_notification(db: psycopg.Connection, database_url: str) -> None:
    traffic(db, minutes(0), rollbacks=10, successes=10)
    results = evaluate_at_once(database_url, 4)
    assert len(results) == 4
    assert sum(r.notifications for r in results) == 1
    assert notifications(db) == [("firing", None)]


def test_a_late_run_for_an_earlier_time_does_nothing(db: psycopg.Connection) -> None:
    traffic(db, minutes(0), rollbacks=10, successes=10)
    run(db, minutes(10))
    late = run(db, minutes(5))
    assert not late.ran
    assert "already ran" in late.reason


def test_evaluation_time_must_be_timezone_aware(db: psycopg.Connection) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(db, [ROLLBACKS], now=datetime(2026, 1, 1))


def test_purge_resolved_deletes_only_alerts_resolved_before_the_cutoff(db: psycopg.Connection) -> None:
    rule = ROLLBACKS.model_copy(update={"pending_minutes": 0})
    old = rule.model_copy(update={"name": "old"})
    traffic(db, minutes(0), rollbacks=10, successes=10)
    run(db, minutes(0), [rule, old])
    traffic(db, minutes(5), rollbacks=0, successes=50)
    run(db, minutes(5), [old])  # only "old" sees the recovery
    assert {(a.rule, a.state) for a in list_alerts(db)} == {("rollbacks", State.FIRING), ("old", State.RESOLVED)}
    assert purge_resolved(db, minutes(5)) == 0
    assert purge_resolved(db, minutes(6)) == 1
    assert [(a.rule, a.state) for a in list_alerts(db)] == [("rollbacks", State.FIRING)]
