"""Burn-rate rules on synthetic traffic whose burn rate is known: they fire and resolve at the workbook's windows.

Error boundaries report a steady stream of caught errors; during a burn a known share of them is
not recovered. With a 99 % objective the budget is 1 %, so 20 % unrecovered burns it at 20x.
The rollups are refreshed as time goes, so the long windows are read from them as in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from resilience.alert_states import State
from resilience.jobs.evaluation import evaluate
from resilience.rules import BurnRateRule, parse_rules
from resilience.store.alerts import list_alerts
from resilience.store.outbox import unsent
from resilience.store.rollups import refresh

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def slo(severity: str) -> BurnRateRule:
    [rule] = parse_rules(
        f'[{{"name": "recovery-{severity}", "type": "burn_rate", "metric": "error_recovery_rate", '
        f'"objective": 99, "severity": "{severity}", "per_component": true}}]'
    )
    assert isinstance(rule, BurnRateRule)
    return rule


def caught(db: psycopg.Connection, start: datetime, steps: int, step: timedelta, errors: int, unrecovered: int) -> None:
    """`errors` caught in the middle of each of `steps` periods from `start`, all but `unrecovered` recovered."""
    db.execute(
        """INSERT INTO resilience_metrics (ts, session_id, component, signal)
           SELECT %(start)s + (p + 0.5) * %(step)s, 's' || e, 'Checkout',
                  CASE WHEN e < %(recovered)s * 2 AND e %% 2 = 1 THEN 'error_boundary_recovered'
                       ELSE 'error_boundary_triggered' END
           FROM generate_series(0, %(steps)s - 1) p, generate_series(0, %(errors)s + %(recovered)s - 1) e""",
        {"start": start, "steps": steps, "step": step, "errors": errors, "recovered": errors - unrecovered},
    )


def episode(
    db: psycopg.Connection, step: timedelta, steps: tuple[int, int, int], errors: int, unrecovered: int
) -> None:
    """Healthy, burning from T0 (`unrecovered` of `errors` a step), healthy again: `steps` of each."""
    before, burning, after = steps
    caught(db, T0 - before * step, before, step, errors, unrecovered=0)
    caught(db, T0, burning, step, errors, unrecovered)
    caught(db, T0 + burning * step, after, step, errors, unrecovered=0)


def firing_from(db: psycopg.Connection, rule: BurnRateRule, times: list[datetime]) -> list[datetime]:
    """Evaluates at each time; returns the times at which the rule's alert was firing afterwards."""
    firing = []
    for at in times:
        refresh(db)
        assert evaluate(db, [rule], now=at).ran
        if any(a.state is State.FIRING for a in list_alerts(db, State.FIRING)):
            firing.append(at)
    return firing


def test_a_fast_burn_pages_when_the_hour_has_burnt_two_percent_and_stops_paging_minutes_after_it_ends(
    db: psycopg.Connection,
) -> None:
    minute = timedelta(minutes=1)
    # Six healthy hours, then 20x for an hour (20 % of 20 errors a minute unrecovered), then healthy.
    episode(db, minute, (360, 60, 30), errors=20, unrecovered=4)
    page = slo("critical")
    firing = firing_from(db, page, [T0 + n * minute for n in range(1, 90)])
    # The 1 h window reaches 14.4x after 60 min x 14.4 / 20 = 43.2 minutes of the burn: at minute 44.
    # Once the burn stops, the 5 min window falls under 14.4x when fewer than 3.6 of its minutes burn: at 62.
    # The 6 h pair stays under 6x all along: its window burns at most 60 / 360 x 20 = 3.3x.
    assert (firing[0], firing[-1]) == (T0 + 44 * minute, T0 + 61 * minute)
    assert len(firing) == 18
    [alert] = list_alerts(db)
    assert (alert.state, alert.severity, alert.objective, alert.threshold) == (State.RESOLVED, "critical", 99.0, 14.4)
    assert [(e.kind, e.payload["alert"]["objective"]) for e in unsent(db)] == [("firing", 99.0), ("resolved", 99.0)]


def test_a_slow_burn_opens_a_ticket_when_three_days_have_burnt_their_share_and_closes_when_six_hours_have_not(
    db: psycopg.Connection,
) -> None:
    hour = timedelta(hours=1)
    # Three healthy days, then 2.5x for two days (5 of 200 errors an hour unrecovered), then healthy.
    episode(db, hour, (72, 48, 12), errors=200, unrecovered=5)
    ticket, page = slo("warning"), slo("critical")
    firing = firing_from(db, ticket, [T0 + n * hour for n in range(1, 60)])
    # The 3 d window reaches 1x after 72 h / 2.5 = 28.8 hours of the burn: at hour 29. After the burn
    # the 6 h window falls under 1x once fewer than 2.4 of its hours burn: at hour 48 + 4.
    assert (firing[0], firing[-1]) == (T0 + 29 * hour, T0 + 51 * hour)
    [alert] = list_alerts(db)
    assert (alert.state, alert.severity, alert.window_minutes) == (State.RESOLVED, "warning", 3 * 24 * 60)
    # The same burn never pages: 2.5x is far from the fast pairs' 14.4x and 6x.
    assert firing_from(db, page, [T0 + n * hour for n in range(60, 61)]) == []
