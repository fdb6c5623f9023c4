"""Alert rules: the defaults, the documented JSON form, errors naming the rule and field, and judging rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resilience.rates import RATES, RATES_BY_METRIC, Operator, Status
from resilience.rules import Rule, RulesError, Severity, default_rules, judging_rules, load_rules, parse_rules


def test_defaults_cover_each_rate_over_all_components_and_per_component() -> None:
    rules = default_rules()
    assert {(r.metric, r.per_component) for r in rules} == {
        (metric, per) for metric in RATES_BY_METRIC for per in (False, True)
    }
    by_name = {r.name: r for r in rules}
    assert (by_name["rollback_rate"].op, by_name["rollback_rate"].limit) == (Operator.GT, 5.0)
    assert (by_name["retry_success_rate"].op, by_name["retry_success_rate"].limit) == (Operator.LT, 80.0)
    assert (by_name["error_recovery_rate"].op, by_name["error_recovery_rate"].limit) == (Operator.LT, 95.0)
    assert by_name["error_recovery_rate_by_component"].severity is Severity.CRITICAL
    assert all(r.min_samples >= 1 and r.pending_minutes > 0 and r.repeat_minutes > 0 for r in rules)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_nothing_configured_means_the_defaults(value: str | None) -> None:
    assert load_rules(value) == default_rules()


def test_inline_json_in_the_documented_form() -> None:
    rules = load_rules(
        json.dumps(
            [
                {
                    "name": "checkout-rollbacks",
                    "metric": "rollback_rate",
                    "operator": "gt",
                    "threshold": 2.5,
                    "severity": "critical",
                    "window_minutes": 30,
                    "min_samples": 50,
                    "pending_minutes": 0,
                    "repeat_minutes": 0,
                    "per_component": True,
                }
            ]
        )
    )
    [rule] = rules
    assert (rule.name, rule.op, rule.limit, rule.severity) == (
        "checkout-rollbacks",
        Operator.GT,
        2.5,
        Severity.CRITICAL,
    )
    assert (rule.window_minutes, rule.min_samples, rule.pending_minutes, rule.repeat_minutes) == (30, 50, 0, 0)
    assert rule.per_component is True


def test_operator_and_threshold_default_to_the_metrics_own() -> None:
    [rule] = parse_rules('[{"name": "retries", "metric": "retry_success_rate"}]')
    assert (rule.op, rule.limit, rule.per_component) == (Operator.LT, 80.0, False)


def test_a_file_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"rules": [{"name": "recovery", "metric": "error_recovery_rate", "threshold": 90}]}')
    [rule] = load_rules(str(path))
    assert (rule.name, rule.limit) == ("recovery", 90.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"name": "r1", "metric": "latency"}]', "rule 'r1' (#0): metric: unknown metric"),
        ('[{"name": "r1", "metric": "rollback_rate", "operator": "ge"}]', "rule 'r1' (#0): operator:"),
        ('[{"name": "r1", "metric": "rollback_rate", "min_samples": 0}]', "rule 'r1' (#0): min_samples:"),
        ('[{"name": "r1", "metric": "rollback_rate", "severity": "page"}]', "rule 'r1' (#0): severity:"),
        ('[{"name": "r1", "metric": "rollback_rate", "treshold": 3}]', "rule 'r1' (#0): treshold: unknown field"),
        ('[{"metric": "rollback_rate"}]', "rule #0: name: Field required"),
        ('[{"name": "a", "metric": "rollback_rate"}, "x"]', "rule #1: must be a JSON object"),
        (
            '[{"name": "a", "metric": "rollback_rate"}, {"name": "a", "metric": "retry_success_rate"}]',
            "rule 'a': name: used by more than one rule",
        ),
        ('{"name": "a"}', "must be a JSON list of rules"),
        ("[]", "the list of rules is empty"),
        ("[{", "not valid JSON"),
    ],
)
def test_errors_name_the_rule_and_the_field(text: str, expected: str) -> None:
    with pytest.raises(RulesError) as raised:
        load_rules(text)
    assert expected in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules('[{"name": "a", "metric": "nope"}, {"name": "b", "metric": "rollback_rate", "window_minutes": 0}]')
    assert len(raised.value.problems) == 2


def test_an_unreadable_path_says_so(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"neither JSON nor a readable file: .*missing\.json"):
        load_rules(str(tmp_path / "missing.json"))


def test_errors_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('[{"name": "r", "metric": "rollback_rate", "threshold": 101}]')
    with pytest.raises(RulesError, match=r"rules\.json: rule 'r' \(#0\): threshold:"):
        load_rules(str(path))


def test_rates_are_judged_by_the_first_rule_of_their_scope_then_the_other_scope_then_their_own_threshold() -> None:
    rules = [
        Rule(name="rollbacks", metric="rollback_rate", threshold=2.0),
        Rule(name="rollbacks_strict", metric="rollback_rate", threshold=1.0),
        Rule(name="retries_by_component", metric="retry_success_rate", threshold=70.0, per_component=True),
    ]
    overall = judging_rules(rules, per_component=False)
    assert [r.metric for r in overall] == ["rollback_rate", "retry_success_rate", "error_recovery_rate"]
    assert [(r.limit, r.min_samples) for r in overall] == [(2.0, 10), (70.0, 10), (95.0, 10)]
    per_component = judging_rules(rules, per_component=True)
    assert [r.limit for r in per_component] == [2.0, 70.0, 95.0]


def test_the_default_rules_judge_by_the_rates_own_thresholds() -> None:
    for per_component in (False, True):
        judges = judging_rules(default_rules(), per_component=per_component)
        assert [(r.metric, r.op, r.limit) for r in judges] == [(d.metric, d.operator, d.threshold) for d in RATES]
        assert all(r.per_component == per_component for r in judges)


def test_a_rule_judges_counts_with_its_threshold_operator_and_minimum_samples() -> None:
    rule = Rule(name="r", metric="retry_success_rate", threshold=90, min_samples=4)
    rate = rule.rate({"retry_success": 3, "retry_failure": 1})
    assert (rate.value, rate.threshold, rate.status) == (75.0, 90.0, Status.ALERT)
    assert (
        Rule(name="r", metric="retry_success_rate", min_samples=5).rate({"retry_success": 4}).status is Status.NO_DATA
    )
