"""The three health rates: their definitions, and how counts of signals become a rate and a status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from resilience.signals import Signal

DEFAULT_MIN_SAMPLES = 10


class Operator(StrEnum):
    GT = "gt"
    LT = "lt"

    def breached(self, value: float, threshold: float) -> bool:
        return value > threshold if self is Operator.GT else value < threshold


class Status(StrEnum):
    HEALTHY = "healthy"
    ALERT = "alert"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class RateDefinition:
    metric: str
    numerator: frozenset[Signal]
    denominator: frozenset[Signal]
    operator: Operator
    threshold: float
    cap: float | None = None


RATES: tuple[RateDefinition, ...] = (
    # Each optimistic action ends in a success or a rollback; counting starts too would count it twice.
    RateDefinition(
        "rollback_rate",
        frozenset({Signal.OPTIMISTIC_ACTION_ROLLBACK}),
        frozenset({Signal.OPTIMISTIC_ACTION_SUCCESS, Signal.OPTIMISTIC_ACTION_ROLLBACK}),
        Operator.GT,
        5.0,
    ),
    RateDefinition(
        "retry_success_rate",
        frozenset({Signal.RETRY_SUCCESS}),
        frozenset({Signal.RETRY_SUCCESS, Signal.RETRY_FAILURE}),
        Operator.LT,
        80.0,
    ),
    # Recoveries reported for errors triggered before the window can exceed triggers: cap at 100.
    RateDefinition(
        "error_recovery_rate",
        frozenset({Signal.ERROR_BOUNDARY_RECOVERED}),
        frozenset({Signal.ERROR_BOUNDARY_TRIGGERED}),
        Operator.LT,
        95.0,
        cap=100.0,
    ),
)
RATES_BY_METRIC: dict[str, RateDefinition] = {r.metric: r for r in RATES}


class Rate(BaseModel):
    """A rate over a window, judged: what the API answers with, per metric."""

    # Built on first use: functions that never compute a rate never pay for its validator.
    model_config = ConfigDict(frozen=True, defer_build=True)

    metric: str = Field(examples=["rollback_rate"])
    value: float | None = Field(description="Percent; null when there is nothing to divide by")
    threshold: float = Field(description="The threshold of the active alert rule that judges this rate")
    operator: Operator = Field(description="gt: alert above the threshold; lt: alert below it")
    status: Status = Field(description="healthy, alert or no_data (fewer samples than the rule's minimum)")
    numerator: int
    denominator: int


def ratio(definition: RateDefinition, counts: Mapping[str, int]) -> tuple[float | None, int, int]:
    """The rate's value in percent (None with nothing to divide by), its numerator and its denominator, unjudged."""
    numerator = sum(counts.get(s.value, 0) for s in definition.numerator)
    denominator = sum(counts.get(s.value, 0) for s in definition.denominator)
    if denominator == 0:
        return None, numerator, denominator
    value = 100.0 * numerator / denominator
    if definition.cap is not None:
        value = min(value, definition.cap)
    return round(value, 4), numerator, denominator


def compute(
    definition: RateDefinition,
    counts: Mapping[str, int],
    *,
    threshold: float | None = None,
    operator: Operator | None = None,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> Rate:
    """One rate from signal counts; below min_samples (or with nothing to divide by) it is no_data."""
    threshold = definition.threshold if threshold is None else threshold
    operator = operator or definition.operator
    value, numerator, denominator = ratio(definition, counts)
    if value is None or denominator < max(min_samples, 1):
        status = Status.NO_DATA
    elif operator.breached(value, threshold):
        status = Status.ALERT
    else:
        status = Status.HEALTHY
    # Computed here, so valid: built without validating.
    return Rate.model_construct(
        metric=definition.metric,
        value=value,
        threshold=threshold,
        operator=operator,
        status=status,
        numerator=numerator,
        denominator=denominator,
    )


def compute_all(counts: Mapping[str, int], *, min_samples: int = DEFAULT_MIN_SAMPLES) -> list[Rate]:
    """The three rates, in their fixed order, with their default thresholds."""
    return [compute(d, counts, min_samples=min_samples) for d in RATES]
