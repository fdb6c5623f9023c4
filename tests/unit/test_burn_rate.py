"""Burn-rate rules: an objective on a rate, judged on the SRE workbook's multiwindow, multi-burn-rate pairs."""

from __future__ import annotations

import json

import pytest

from resilience.rates import Operator, Status
from resilience.rules import BurnRateRule, BurnWindow, RulesError, Severity, parse_rules

OBJECTIVE = 99.0  # 1 % error budget: an error ratio of 1 % burns it at 1x


def recovery(triggered: int, failed: int) -> dict[str, int]:
    """Error boundary counts with `failed` of `triggered` errors not recovered."""
    return {"error_boundary_triggered": triggered, "error_boundary_recovered": triggered - failed}


def rule(severity: str = "critical", **fields: object) -> BurnRateRule:
    [parsed] = parse_rules(
        json.dumps(
            [
                {
                    "name": "recovery-slo",
                    "type": "burn_rate",
                    "metric": "error_recovery_rate",
                    "objective": OBJECTIVE,
                    "severity": severity,
                    **fields,
                }
            ]
        )
    )
    assert isinstance(parsed, BurnRateRule)
    return parsed


def test_the_workbooks_pairs_are_the_defaults_of_each_severity() -> None:
    page, ticket = rule("critical"), rule("warning")
    assert [(p.long_minutes, p.short_minutes, p.factor) for p in page.pairs] == [(60, 5, 14.4), (360, 30, 6)]
    assert [(p.long_minutes, p.short_minutes, p.factor) for p in ticket.pairs] == [(4320, 360, 1)]
    assert page.windows_minutes == (5, 30, 60, 360)
    assert (page.window_minutes, ticket.window_minutes) == (360, 4320)
    assert page.pending_minutes == 0


def test_the_burn_rate_is_the_error_ratio_over_the_budget_whichever_way_the_rate_points() -> None:
    recovery_rule = rule()
    assert recovery_rule.burn(recovery(1000, 20))[0] == 2.0  # 98 % recovered: 2 % errors, twice the budget
    rollbacks = rule(metric="rollback_rate")
    rolled_back = {"optimistic_action_rollback": 3, "optimistic_action_success": 97}
    assert rollbacks.burn(rolled_back)[0] == 3.0
    assert recovery_rule.burn({})[0] is None


def counts(**windows: dict[str, int]) -> dict[int, dict[str, int]]:
    """Counts of each window of the critical rule: 5m, 30m, 1h, 6h; unnamed ones are empty."""
    minutes = {"m5": 5, "m30": 30, "h1": 60, "h6": 360}
    return {m: windows.get(name, {}) for name, m in minutes.items()}


def test_a_pair_alerts_only_while_both_its_windows_burn_at_its_factor() -> None:
    page = rule()
    # 15 % errors over the hour and over the last 5 minutes: 15x >= 14.4x.
    both = page.judge(counts(m5=recovery(100, 15), h1=recovery(1000, 150), h6=recovery(6000, 150)))
    assert (both.status, both.value, both.threshold, both.operator) == (Status.ALERT, 15.0, 14.4, Operator.GT)
    assert (both.numerator, both.denominator) == (850, 1000)
    # The burn stopped: the short window clears the alert although the hour still burns.
    stopped = page.judge(counts(m5=recovery(100, 0), h1=recovery(1000, 150), h6=recovery(6000, 150)))
    assert stopped.status is Status.HEALTHY
    # A short spike alone does not alert: the hour has not burnt enough budget.
    spike = page.judge(counts(m5=recovery(100, 50), h1=recovery(1000, 60), h6=recovery(6000, 60)))
    assert spike.status is Status.HEALTHY


def test_the_slower_pair_alerts_on_a_burn_the_fast_one_misses() -> None:
    page = rule()
    # 7 % errors for six hours: 7x, under 14.4x but over 6x.
    slow = page.judge(counts(m5=recovery(100, 7), m30=recovery(600, 42), h1=recovery(1000, 70), h6=recovery(6000, 420)))
    assert (slow.status, slow.threshold, slow.value) == (Status.ALERT, 6.0, 7.0)


def test_below_the_minimum_samples_in_every_long_window_there_is_no_data() -> None:
    page = rule(min_samples=500)
    few = page.judge(counts(m5=recovery(10, 10), m30=recovery(40, 40), h1=recovery(100, 100), h6=recovery(400, 400)))
    assert few.status is Status.NO_DATA
    assert few.value is None


def test_custom_pairs_replace_the_workbooks() -> None:
    custom = rule(windows=[{"long_minutes": 120, "short_minutes": 10, "factor": 3}])
    assert custom.pairs == (BurnWindow(long_minutes=120, short_minutes=10, factor=3),)
    assert custom.severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"objective": 100}, "objective", "less than 100"),
        ({"objective": None}, "objective", "valid number"),
        (
            {"windows": [{"long_minutes": 5, "short_minutes": 60, "factor": 2}]},
            "windows.0",
            "short_minutes must be less",
        ),
        ({"windows": []}, "windows", "at least one pair"),
        ({"threshold": 5}, "threshold", "unknown field"),
    ],
)
def test_a_mistake_in_a_burn_rate_rule_names_the_field(fields: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(RulesError) as raised:
        rule(**fields)
    [problem] = raised.value.problems
    assert problem.startswith(f"rule 'recovery-slo' (#0): {field}: ")
    assert reason in problem


def test_an_unknown_rule_type_is_named() -> None:
    with pytest.raises(RulesError, match=r"rule 'x' \(#0\): type: must be one of threshold, burn_rate"):
        parse_rules('[{"name": "x", "type": "anomaly", "metric": "rollback_rate"}]')
