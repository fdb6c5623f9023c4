"""Silences: for a while, alerts matching a component, metric or rule notify nobody; and what hushes an alert."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from resilience.rates import RATES_BY_METRIC
from resilience.rules import AlertRule
from resilience.timestamps import Timestamp
from resilience.validation import NO_NUL


class Matchers(BaseModel):
    """Which alerts a silence covers: those equal to every given field (at least one is given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Stored as text, which holds no NUL: a name carrying one matches no alert and is refused up front.
    component: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL, examples=["CheckoutForm"])
    metric: str | None = Field(default=None, examples=["rollback_rate"])
    rule: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=NO_NUL, examples=["rollback_rate_by_component"]
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in RATES_BY_METRIC:
            raise ValueError(f"unknown metric; known metrics: {', '.join(RATES_BY_METRIC)}")
        return value

    @model_validator(mode="after")
    def _at_least_one(self) -> Matchers:
        if self.component is None and self.metric is None and self.rule is None:
            raise ValueError("name at least one of component, metric, rule")
        return self

    def match(self, rule: str, metric: str, component: str | None) -> bool:
        """Whether an alert of this rule, metric and component (None: all components) is covered."""
        wanted = ((self.rule, rule), (self.metric, metric), (self.component, component))
        return all(given is None or given == actual for given, actual in wanted)


class Silence(BaseModel):
    """A silence as stored; deleting one expires it (ends_at becomes the moment of deletion)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: int
    matchers: Matchers
    starts_at: Timestamp
    ends_at: Timestamp
    comment: str
    created_by: str
    created_at: Timestamp

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """How an alert's history and listing name the silence."""
        return f"silence {self.id} by {self.created_by}"


def silenced_by(
    rule: AlertRule | None, name: str, metric: str, component: str | None, silences: Iterable[Silence], at: datetime
) -> str | None:
    """What hushes an alert at `at`: the first active silence matching it, else its rule's mute time in force."""
    return silenced_by_component(rule, name, metric, silences, at)(component)


def silenced_by_component(
    rule: AlertRule | None, name: str, metric: str, silences: Iterable[Silence], at: datetime
) -> Callable[[str | None], str | None]:
    """silenced_by for one rule's alerts at `at`, by component; what the component does not change found once."""
    active = [silence for silence in silences if silence.active(at)]
    mute = rule.muted_by(at) if rule is not None else None
    muted = f"mute time {mute.label}" if mute is not None else None

    def by(component: str | None) -> str | None:
        for silence in active:
            if silence.matchers.match(name, metric, component):
                return silence.label
        return muted

    return by
