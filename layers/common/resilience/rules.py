"""Alert rules: their JSON form (threshold and burn-rate rules, mute times), the defaults, and loading them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from resilience.rates import (
    DEFAULT_MIN_SAMPLES,
    RATES,
    RATES_BY_METRIC,
    Operator,
    Rate,
    RateDefinition,
    Status,
    compute,
    ratio,
)
from resilience.validation import field_error

DEFAULT_WINDOW_MINUTES = 15
DEFAULT_PENDING_MINUTES = 5
DEFAULT_REPEAT_MINUTES = 60


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class RulesError(ValueError):
    """The rule configuration is unusable; the message names the rule and the field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid alert rules: " + "; ".join(problems))
        self.problems = problems


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEK = tuple(Weekday)
_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


def _minute_of_day(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class MuteTime(BaseModel):
    """A recurring time during which a rule notifies nobody, e.g. a nightly deploy window.

    From `start` to `end` (HH:MM, end "24:00" for midnight) on each of `weekdays`, in `time_zone`;
    a range whose end is before its start runs past midnight into the next day.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=100)
    weekdays: tuple[Weekday, ...] = WEEK
    start: str = Field(pattern=_CLOCK, examples=["22:00"])
    end: str = Field(pattern=_CLOCK, examples=["02:00"])
    time_zone: str = Field(default="UTC", examples=["Europe/Paris"])

    @field_validator("weekdays")
    @classmethod
    def _some_day(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        # Checked once the days are valid, so a misspelt day is the one error reported.
        if not value:
            raise ValueError("name at least one weekday")
        return value

    @field_validator("start")
    @classmethod
    def _starts_in_the_day(cls, value: str) -> str:
        if value == "24:00":
            raise ValueError("a range starts at 23:59 at the latest")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone; use an IANA name such as Europe/Paris or UTC") from exc
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> MuteTime:
        if _minute_of_day(self.start) == _minute_of_day(self.end) % (24 * 60) and self.end != "24:00":
            raise ValueError("end must differ from start")
        return self

    def active(self, at: datetime) -> bool:
        """Whether `at` falls in the mute time, read on the clock of its time zone."""
        local = at.astimezone(ZoneInfo(self.time_zone))
        minute = local.hour * 60 + local.minute
        start, end = _minute_of_day(self.start), _minute_of_day(self.end)
        today = WEEK[local.weekday()] in self.weekdays
        if start < end:
            return today and start <= minute < end
        yesterday = WEEK[(local.weekday() - 1) % 7] in self.weekdays
        return (today and minute >= start) or (yesterday and minute < end)

    @property
    def label(self) -> str:
        days = "every day" if set(self.weekdays) == set(WEEK) else ",".join(self.weekdays)
        return self.name or f"{days} {self.start}-{self.end} {self.time_zone}"


class _AlertRule(BaseModel):
    """What every kind of rule has: its name, metric, scope, severity, timing and mute times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    metric: str
    severity: Severity = Severity.WARNING
    min_samples: int = Field(default=DEFAULT_MIN_SAMPLES, ge=1)
    pending_minutes: int = Field(default=DEFAULT_PENDING_MINUTES, ge=0, le=7 * 24 * 60)
    # 0 sends no reminders.
    repeat_minutes: int = Field(default=DEFAULT_REPEAT_MINUTES, ge=0, le=30 * 24 * 60)
    per_component: bool = False
    mute_times: tuple[MuteTime, ...] = ()

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in RATES_BY_METRIC:
            raise ValueError(f"unknown metric; known metrics: {', '.join(RATES_BY_METRIC)}")
        return value

    @property
    def definition(self) -> RateDefinition:
        return RATES_BY_METRIC[self.metric]

    def muted_by(self, at: datetime) -> MuteTime | None:
        """The first of the rule's mute times in force at `at`, if any."""
        return next((mute for mute in self.mute_times if mute.active(at)), None)


class Rule(_AlertRule):
    """A threshold rule. operator and threshold default to the metric's own (resilience/rates.py)."""

    type: Literal["threshold"] = "threshold"
    operator: Operator | None = None
    threshold: float | None = Field(default=None, ge=0, le=100)
    window_minutes: int = Field(default=DEFAULT_WINDOW_MINUTES, ge=1, le=7 * 24 * 60)

    @model_validator(mode="after")
    def _metric_defaults(self) -> Rule:
        definition = RATES_BY_METRIC[self.metric]
        if self.operator is None:
            object.__setattr__(self, "operator", definition.operator)
        if self.threshold is None:
            object.__setattr__(self, "threshold", definition.threshold)
        return self

    @property
    def op(self) -> Operator:
        return self.operator or self.definition.operator

    @property
    def limit(self) -> float:
        return self.definition.threshold if self.threshold is None else self.threshold

    def rate(self, counts: Mapping[str, int]) -> Rate:
        """The rule's metric over these signal counts, judged by its threshold and minimum samples."""
        return compute(self.definition, counts, threshold=self.limit, operator=self.op, min_samples=self.min_samples)

    @property
    def windows_minutes(self) -> tuple[int, ...]:
        """The windows whose counts the rule reads."""
        return (self.window_minutes,)

    def judge(self, counts: Mapping[int, Mapping[str, int]]) -> Rate:
        """The rule's rate from the counts of each of its windows (window minutes -> signal -> n)."""
        return self.rate(counts[self.window_minutes])


class BurnWindow(BaseModel):
    """A pair of windows of a burn-rate rule: it alerts while both burn the error budget at least `factor` times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    long_minutes: int = Field(ge=2, le=30 * 24 * 60)
    short_minutes: int = Field(ge=1, le=30 * 24 * 60)
    factor: float = Field(gt=0, le=1000)

    @model_validator(mode="after")
    def _short_within_long(self) -> BurnWindow:
        if self.short_minutes >= self.long_minutes:
            raise ValueError("short_minutes must be less than long_minutes")
        return self


# The multiwindow, multi-burn-rate pairs of the SRE workbook for a 30-day objective: 2 % of the
# budget in an hour or 5 % in six hours pages; 10 % in three days opens a ticket.
WORKBOOK_WINDOWS: dict[Severity, tuple[BurnWindow, ...]] = {
    Severity.CRITICAL: (
        BurnWindow(long_minutes=60, short_minutes=5, factor=14.4),
        BurnWindow(long_minutes=6 * 60, short_minutes=30, factor=6),
    ),
    Severity.WARNING: (BurnWindow(long_minutes=3 * 24 * 60, short_minutes=6 * 60, factor=1),),
}


class BurnRateRule(_AlertRule):
    """An objective on a rate (e.g. error recovery at 99 %), alerting on how fast its error budget burns.

    The error ratio is the failing share of the rate's outcomes (rollbacks; retries that failed;
    errors not recovered); the burn rate is that ratio over the budget, 1 - objective. Each pair of
    `windows` alerts while both its windows burn at least its factor; the short window ends the alert
    soon after the burn stops. The long window needs min_samples outcomes, the short one at least one.
    """

    type: Literal["burn_rate"]
    objective: float = Field(gt=0, lt=100, description="Percent of good outcomes the rate must keep")
    windows: tuple[BurnWindow, ...] | None = None
    pending_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)

    @field_validator("windows")
    @classmethod
    def _some_pair(cls, value: tuple[BurnWindow, ...] | None) -> tuple[BurnWindow, ...] | None:
        if value is not None and not value:
            raise ValueError("name at least one pair of windows, or leave windows out for the workbook's")
        return value

    @model_validator(mode="after")
    def _workbook_windows(self) -> BurnRateRule:
        if self.windows is None:
            object.__setattr__(self, "windows", WORKBOOK_WINDOWS[self.severity])
        return self

    @property
    def pairs(self) -> tuple[BurnWindow, ...]:
        return self.windows or WORKBOOK_WINDOWS[self.severity]

    @property
    def window_minutes(self) -> int:
        """The longest window: what an alert of the rule says it looked at."""
        return max(pair.long_minutes for pair in self.pairs)

    @property
    def windows_minutes(self) -> tuple[int, ...]:
        return tuple(sorted({m for pair in self.pairs for m in (pair.long_minutes, pair.short_minutes)}))

    def burn(self, counts: Mapping[str, int]) -> tuple[float | None, int, int]:
        """The burn rate over one window's counts (None with no outcomes), and the rate's numerator and denominator."""
        value, numerator, denominator = ratio(self.definition, counts)
        if value is None:
            return None, numerator, denominator
        failing = value if self.definition.operator is Operator.GT else 100.0 - value
        return round(failing / (100.0 - self.objective), 4), numerator, denominator

    def judge(self, counts: Mapping[int, Mapping[str, int]]) -> Rate:
        """Alert while any pair burns at its factor over both windows; no data when no long window has enough."""
        judged: list[tuple[bool, float, BurnWindow, int, int]] = []
        for pair in self.pairs:
            burn, numerator, denominator = self.burn(counts[pair.long_minutes])
            short, _, short_denominator = self.burn(counts[pair.short_minutes])
            if burn is None or denominator < self.min_samples:
                continue
            firing = burn >= pair.factor and short is not None and short_denominator >= 1 and short >= pair.factor
            judged.append((firing, burn / pair.factor, pair, numerator, denominator))
        if not judged:
            first = self.pairs[0]
            _, numerator, denominator = self.burn(counts[first.long_minutes])
            return Rate.model_construct(
                metric=self.metric,
                value=None,
                threshold=first.factor,
                operator=Operator.GT,
                status=Status.NO_DATA,
                numerator=numerator,
                denominator=denominator,
            )
        firing, share, pair, numerator, denominator = max(judged, key=lambda j: (j[0], j[1]))
        return Rate.model_construct(
            metric=self.metric,
            value=round(share * pair.factor, 4),
            threshold=pair.factor,
            operator=Operator.GT,
            status=Status.ALERT if firing else Status.HEALTHY,
            numerator=numerator,
            denominator=denominator,
        )


AlertRule = Rule | BurnRateRule
"""Any rule of the rules document."""


# Losing error recoveries means users see broken screens: that one is critical.
_DEFAULT_SEVERITY = {"rollback_rate": Severity.WARNING, "retry_success_rate": Severity.WARNING}


def default_rules() -> list[Rule]:
    """Each of the three rates over all components and per component, with the rates' own thresholds."""
    rules = []
    for definition in RATES:
        severity = _DEFAULT_SEVERITY.get(definition.metric, Severity.CRITICAL)
        rules.append(Rule(name=definition.metric, metric=definition.metric, severity=severity))
        rules.append(
            Rule(
                name=f"{definition.metric}_by_component",
                metric=definition.metric,
                severity=severity,
                per_component=True,
            )
        )
    return rules


def judging_rules(rules: Sequence[AlertRule], *, per_component: bool) -> list[Rule]:
    """The rule that judges each metric's status where rates are read (one per metric, in the rates' order).

    For each metric: the first rule of its scope (per component, or over all components), else the
    first of the other scope, else the metric's own threshold and the default minimum samples.
    """
    judges = []
    for definition in RATES:
        # A burn-rate rule judges an objective over its own windows, not a rate over a query's window.
        watching = [rule for rule in rules if isinstance(rule, Rule) and rule.metric == definition.metric]
        preferred = [rule for rule in watching if rule.per_component == per_component]
        judges.append((preferred or watching or [Rule(name=definition.metric, metric=definition.metric)])[0])
    return judges


def _rule_label(index: int, raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        return f"rule {raw['name']!r} (#{index})"
    return f"rule #{index}"


_KINDS: dict[str, type[Rule] | type[BurnRateRule]] = {"threshold": Rule, "burn_rate": BurnRateRule}


def parse_rules(text: str) -> list[AlertRule]:
    """A JSON list of rules (or {"rules": [...]}); errors name each rule and field at fault."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RulesError([f"not valid JSON: {exc}"]) from exc
    if isinstance(document, dict) and set(document) == {"rules"}:
        document = document["rules"]
    if not isinstance(document, list):
        raise RulesError(['must be a JSON list of rules, e.g. [{"name": "...", "metric": "rollback_rate"}]'])
    if not document:
        raise RulesError(["the list of rules is empty (leave ALERT_RULES unset for the defaults)"])
    problems: list[str] = []
    rules: list[AlertRule] = []
    for index, raw in enumerate(document):
        label = _rule_label(index, raw)
        if not isinstance(raw, dict):
            problems.append(f"{label}: must be a JSON object")
            continue
        kind = _KINDS.get(raw.get("type", "threshold"))
        if kind is None:
            problems.append(f"{label}: type: must be one of {', '.join(_KINDS)}")
            continue
        try:
            rules.append(kind.model_validate(raw))
        except ValidationError as exc:
            for error in exc.errors():
                problem = field_error(error, "rule")
                problems.append(f"{label}: {problem['field']}: {problem['reason']}")
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            problems.append(f"rule {rule.name!r}: name: used by more than one rule")
        seen.add(rule.name)
    if problems:
        raise RulesError(problems)
    return rules


def load_rules(value: str | None) -> list[AlertRule]:
    """ALERT_RULES: inline JSON, a path of a JSON file, or nothing for the defaults."""
    if value is None or not value.strip():
        defaults: list[AlertRule] = [*default_rules()]
        return defaults
    text = value.strip()
    if text[0] in "[{":
        return parse_rules(text)
    path = Path(text)
    try:
        content = path.read_text()
    except OSError as exc:
        raise RulesError([f"ALERT_RULES is neither JSON nor a readable file: {path} ({exc.strerror})"]) from exc
    try:
        return parse_rules(content)
    except RulesError as exc:
        raise RulesError([f"{path}: {p}" for p in exc.problems]) from exc
