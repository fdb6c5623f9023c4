"""The three health rates: definitions, thresholds, minimum samples and no_data."""

from __future__ import annotations

from typing import Any

import pytest

from resilience.rates import DEFAULT_MIN_SAMPLES, RATES_BY_METRIC, Operator, Rate, Status, compute, compute_all


def rate(metric: str, counts: dict[str, int], **kwargs: Any) -> Rate:
    return compute(RATES_BY_METRIC[metric], counts, **kwargs)


def test_an_empty_window_is_no_data_for_every_rate_and_never_divides_by_zero() -> None:
    rates = compute_all({})
    assert [r.metric for r in rates] == ["rollback_rate", "retry_success_rate", "error_recovery_rate"]
    assert all(r.status is Status.NO_DATA and r.value is None for r in rates)
    assert all(r.numerator == 0 and r.denominator == 0 for r in rates)


def test_only_starts_give_no_rollback_rate_because_starts_are_not_outcomes() -> None:
    r = rate("rollback_rate", {"optimistic_action_start": 500})
    assert (r.value, r.status, r.denominator) == (None, Status.NO_DATA, 0)


def test_rollback_rate_counts_each_action_once_successes_plus_rollbacks() -> None:
    r = rate(
        "rollback_rate",
        {"optimistic_action_start": 100, "optimistic_action_success": 90, "optimistic_action_rollback": 10},
    )
    assert (r.numerator, r.denominator, r.value) == (10, 100, 10.0)
    assert r.status is Status.ALERT
    assert r.operator is Operator.GT
    assert r.threshold == 5.0


def test_rollback_rate_at_the_threshold_is_healthy() -> None:
    r = rate("rollback_rate", {"optimistic_action_success": 95, "optimistic_action_rollback": 5})
    assert (r.value, r.status) == (5.0, Status.HEALTHY)


def test_a_ten_percent_retry_success_rate_alerts() -> None:
    r = rate("retry_success_rate", {"retry_success": 10, "retry_failure": 90, "retry_attempt": 1000})
    assert (r.numerator, r.denominator, r.value, r.status) == (10, 100, 10.0, Status.ALERT)


def test_retry_success_rate_at_or_above_eighty_is_healthy() -> None:
    assert rate("retry_success_rate", {"retry_success": 80, "retry_failure": 20}).status is Status.HEALTHY
    assert rate("retry_success_rate", {"retry_success": 79, "retry_failure": 21}).status is Status.ALERT


def test_recoveries_exceeding_triggers_are_capped_at_one_hundred_percent() -> None:
    r = rate("error_recovery_rate", {"error_boundary_triggered": 20, "error_boundary_recovered": 30})
    assert (r.numerator, r.denominator, r.value, r.status) == (30, 20, 100.0, Status.HEALTHY)


def test_error_recovery_below_ninety_five_alerts() -> None:
    r = rate("error_recovery_rate", {"error_boundary_triggered": 100, "error_boundary_recovered": 94})
    assert (r.value, r.status) == (94.0, Status.ALERT)


def test_recoveries_without_any_trigger_are_no_data() -> None:
    r = rate("error_recovery_rate", {"error_boundary_recovered": 50})
    assert (r.value, r.status, r.denominator) == (None, Status.NO_DATA, 0)


def test_fewer_samples_than_the_minimum_is_no_data_never_alert_but_shows_the_value() -> None:
    counts = {"retry_success": 1, "retry_failure": DEFAULT_MIN_SAMPLES - 2}
    r = rate("retry_success_rate", counts)
    assert r.denominator == DEFAULT_MIN_SAMPLES - 1
    assert r.status is Status.NO_DATA
    assert r.value == pytest.approx(100 / 9, abs=1e-4)
    assert rate("retry_success_rate", {**counts, "retry_failure": counts["retry_failure"] + 1}).status is Status.ALERT


def test_min_samples_threshold_and_operator_can_be_overridden() -> None:
    counts = {"retry_success": 3, "retry_failure": 1}
    assert rate("retry_success_rate", counts).status is Status.NO_DATA
    assert rate("retry_success_rate", counts, min_samples=4).status is Status.ALERT
    r = rate("retry_success_rate", counts, min_samples=4, threshold=90.0)
    assert (r.value, r.threshold, r.status) == (75.0, 90.0, Status.ALERT)
    r = rate("retry_success_rate", counts, min_samples=4, threshold=50.0, operator=Operator.GT)
    assert r.status is Status.ALERT


def test_values_are_rounded_to_four_decimals() -> None:
    r = rate("rollback_rate", {"optimistic_action_success": 2, "optimistic_action_rollback": 1}, min_samples=1)
    assert r.value == 33.3333


def test_a_rate_carries_what_a_user_needs_to_check_it() -> None:
    r = rate("rollback_rate", {"optimistic_action_success": 19, "optimistic_action_rollback": 1})
    assert r.model_dump() == {
        "metric": "rollback_rate",
        "value": 5.0,
        "threshold": 5.0,
        "operator": Operator.GT,
        "status": Status.HEALTHY,
        "numerator": 1,
        "denominator": 20,
    }
