"""Mute times in the rules: recurring weekdays and time ranges on a time zone's clock, and their errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from resilience.rules import MuteTime, Rule, RulesError, parse_rules

# Monday 2 November 2026; Paris is UTC+1 in November, UTC+2 in July.
MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_a_nightly_window_runs_past_midnight_into_the_next_day() -> None:
    nightly = MuteTime(weekdays=("mon",), start="22:00", end="02:00")
    assert not nightly.active(at(2, 21, 59))
    assert nightly.active(at(2, 22, 0))
    assert nightly.active(at(3, 1, 59))  # Tuesday, still Monday's window
    assert not nightly.active(at(3, 2, 0))
    assert not nightly.active(at(3, 22, 30))  # Tuesday night is not muted


def test_a_window_is_read_on_its_time_zones_clock_across_daylight_saving() -> None:
    paris = MuteTime(weekdays=("mon", "tue", "wed", "thu", "fri"), start="09:00", end="10:00", time_zone="Europe/Paris")
    assert paris.active(at(2, 8, 30))  # 09:30 in Paris in winter
    assert not paris.active(at(2, 9, 30))
    assert paris.active(at(6, 7, 30, month=7))  # Monday 6 July, 09:30 in Paris in summer
    assert not paris.active(at(7, 8, 30))  # Saturday


def test_end_of_day_is_written_as_24_00_and_every_day_is_the_default() -> None:
    evening = MuteTime(start="18:00", end="24:00")
    assert evening.active(at(7, 23, 59))
    assert not evening.active(at(8, 0, 0))
    assert evening.label == "every day 18:00-24:00 UTC"
    assert MuteTime(name="deploys", start="01:00", end="02:00").label == "deploys"


def test_a_rule_is_muted_while_any_of_its_mute_times_is_in_force() -> None:
    [rule] = parse_rules(
        json.dumps(
            [
                {
                    "name": "checkout",
                    "metric": "rollback_rate",
                    "mute_times": [
                        {"name": "nightly deploys", "start": "23:00", "end": "01:00", "time_zone": "UTC"},
                        {"weekdays": ["sat", "sun"], "start": "00:00", "end": "24:00"},
                    ],
                }
            ]
        )
    )
    assert rule.muted_by(at(2, 23, 30)) == rule.mute_times[0]
    assert rule.muted_by(at(7, 12)) == rule.mute_times[1]
    assert rule.muted_by(at(2, 12)) is None


@pytest.mark.parametrize(
    ("mute", "field", "reason"),
    [
        ({"start": "22:00", "end": "22:00"}, "mute_times.0", "end must differ from start"),
        ({"start": "25:00", "end": "02:00"}, "mute_times.0.start", "String should match pattern"),
        (
            {"start": "22:00", "end": "02:00", "time_zone": "Mars/Olympus"},
            "mute_times.0.time_zone",
            "unknown time zone",
        ),
        ({"start": "22:00", "end": "02:00", "weekdays": ["someday"]}, "mute_times.0.weekdays.0", "Input should be"),
        ({"start": "22:00", "end": "02:00", "weekdays": []}, "mute_times.0.weekdays", "at least one weekday"),
        ({"start": "24:00", "end": "02:00"}, "mute_times.0.start", "23:59 at the latest"),
    ],
)
def test_a_mistake_in_a_mute_time_names_the_rule_and_the_field(
    mute: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules(json.dumps([{"name": "checkout", "metric": "rollback_rate", "mute_times": [mute]}]))
    [problem] = raised.value.problems
    assert problem.startswith(f"rule 'checkout' (#0): {field}: ")
    assert reason in problem


def test_rules_without_mute_times_are_never_muted() -> None:
    assert Rule(name="plain", metric="rollback_rate").muted_by(MONDAY) is None
