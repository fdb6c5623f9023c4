"""Component health: each component judged by the per-component rules, the worst first."""

from __future__ import annotations

from resilience.components import rank
from resilience.rates import Status
from resilience.rules import Rule, default_rules

COUNTS = {
    "Healthy": {"retry_success": 20},
    "Failing": {"retry_success": 2, "retry_failure": 18},
    "Quiet": {"optimistic_action_start": 1},
    "Slipping": {"retry_success": 15, "retry_failure": 5},
}


def test_components_are_listed_worst_first_with_their_rates_and_events() -> None:
    found = rank(COUNTS, default_rules())
    assert [c.component for c in found] == ["Failing", "Slipping", "Healthy", "Quiet"]
    failing = {m.metric: m for m in found[0].metrics}
    assert (failing["retry_success_rate"].value, failing["retry_success_rate"].status) == (10.0, Status.ALERT)
    assert found[0].events == 20
    assert found[3].events == 1
    assert all(m.status is Status.NO_DATA for m in found[3].metrics)


def test_more_alerting_rates_rank_a_component_worse_than_a_deeper_single_breach() -> None:
    counts = {
        "OneDeep": {"retry_success": 0, "retry_failure": 20},
        "TwoShallow": {
            "retry_success": 15,
            "retry_failure": 5,
            "optimistic_action_success": 18,
            "optimistic_action_rollback": 2,
        },
    }
    assert [c.component for c in rank(counts, default_rules())] == ["TwoShallow", "OneDeep"]


def test_components_are_judged_by_the_active_per_component_rule_not_the_global_one() -> None:
    rules = [
        Rule(name="retries", metric="retry_success_rate", threshold=50),
        Rule(name="retries_by_component", metric="retry_success_rate", threshold=90, per_component=True),
    ]
    [slipping] = rank({"Slipping": COUNTS["Slipping"]}, rules)
    retries = {m.metric: m for m in slipping.metrics}["retry_success_rate"]
    assert (retries.value, retries.threshold, retries.status) == (75.0, 90.0, Status.ALERT)
