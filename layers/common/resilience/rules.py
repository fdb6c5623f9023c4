"""Alert rules: their JSON form, the defaults matching the health thresholds, and loading them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from resilience.rates import DEFAULT_MIN_SAMPLES, RATES, RATES_BY_METRIC, Operator, Rate, RateDefinition, compute
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


class Rule(BaseModel):
    """One alert rule. operator and threshold default to the metric's own (resilience/rates.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    metric: str
    operator: Operator | None = None
    threshold: float | None = Field(default=None, ge=0, le=100)
    severity: Severity = Severity.WARNING
    window_minutes: int = Field(default=DEFAULT_WINDOW_MINUTES, ge=1, le=7 * 24 * 60)
    min_samples: int = Field(default=DEFAULT_MIN_SAMPLES, ge=1)
    pending_minutes: int = Field(default=DEFAULT_PENDING_MINUTES, ge=0, le=7 * 24 * 60)
    # 0 sends no reminders.
    repeat_minutes: int = Field(default=DEFAULT_REPEAT_MINUTES, ge=0, le=30 * 24 * 60)
    per_component: bool = False

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in RATES_BY_METRIC:
            raise ValueError(f"unknown metric; known metrics: {', '.join(RATES_BY_METRIC)}")
        return value

    @model_validator(mode="after")
    def _metric_defaults(self) -> Rule:
        definition = RATES_BY_METRIC[self.metric]
        if self.operator is None:
            object.__setattr__(self, "operator", definition.operator)
        if self.threshold is None:
            object.__setattr__(self, "threshold", definition.threshold)
        return self

    @property
    def definition(self) -> RateDefinition:
        return RATES_BY_METRIC[self.metric]

    @property
    def op(self) -> Operator:
        return self.operator or self.definition.operator

    @property
    def limit(self) -> float:
        return self.definition.threshold if self.threshold is None else self.threshold

    def rate(self, counts: Mapping[str, int]) -> Rate:
        """The rule's metric over these signal counts, judged by its threshold and minimum samples."""
        return compute(self.definition, counts, threshold=self.limit, operator=self.op, min_samples=self.min_samples)


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


def judging_rules(rules: Sequence[Rule], *, per_component: bool) -> list[Rule]:
    """The rule that judges each metric's status where rates are read (one per metric, in the rates' order).

    For each metric: the first rule of its scope (per component, or over all components), else the
    first of the other scope, else the metric's own threshold and the default minimum samples.
    """
    judges = []
    for definition in RATES:
        watching = [rule for rule in rules if rule.metric == definition.metric]
        preferred = [rule for rule in watching if rule.per_component == per_component]
        judges.append((preferred or watching or [Rule(name=definition.metric, metric=definition.metric)])[0])
    return judges


def _rule_label(index: int, raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        return f"rule {raw['name']!r} (#{index})"
    return f"rule #{index}"


def parse_rules(text: str) -> list[Rule]:
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
    rules: list[Rule] = []
    for index, raw in enumerate(document):
        label = _rule_label(index, raw)
        if not isinstance(raw, dict):
            problems.append(f"{label}: must be a JSON object")
            continue
        try:
            rules.append(Rule.model_validate(raw))
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


def load_rules(value: str | None) -> list[Rule]:
    """ALERT_RULES: inline JSON, a path of a JSON file, or nothing for the defaults."""
    if value is None or not value.strip():
        return default_rules()
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
