"""Component health: each component's rates and event count, worst first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from resilience.rates import Rate, Status
from resilience.rules import AlertRule, judging_rules


class ComponentHealth(BaseModel):
    """One component's rates over a window, and how many events it reported."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    component: str
    metrics: list[Rate]
    events: int


def _severity(rate: Rate) -> float:
    """How far past its threshold a rate is, in percentage points (0 unless it alerts)."""
    if rate.status is not Status.ALERT or rate.value is None:
        return 0.0
    return abs(rate.value - rate.threshold)


def _worst_first(item: ComponentHealth) -> tuple[int, float, int, int, str]:
    alerts = sum(1 for m in item.metrics if m.status is Status.ALERT)
    measured = sum(1 for m in item.metrics if m.status is not Status.NO_DATA)
    return (-alerts, -sum(_severity(m) for m in item.metrics), -measured, -item.events, item.component)


def rank(counts: Mapping[str, Mapping[str, int]], rules: Sequence[AlertRule]) -> list[ComponentHealth]:
    """Every component of counts (component -> signal -> n), judged by the per-component rules, worst first."""
    judges = judging_rules(rules, per_component=True)
    found = [
        ComponentHealth(
            component=name, metrics=[rule.rate(per_signal) for rule in judges], events=sum(per_signal.values())
        )
        for name, per_signal in counts.items()
    ]
    return sorted(found, key=_worst_first)
