"""Schedule expressions of EventBridge (rate(...) and cron(...)): when a job runs next, and how often."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


# EventBridge's names of weekdays (1 is Sunday) and months.
_NAMES = {
    **{day: n for n, day in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)},
    **{
        month: n
        for n, month in enumerate(
            ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
        )
    },
}


def _field(spec: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for name, number in _NAMES.items():
        spec = spec.upper().replace(name, str(number))
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            start, end = (int(x) for x in part.split("-"))
        else:
            start = int(part)
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    return values


def next_time(expression: str, after: datetime) -> datetime:
    """When a schedule fires next after `after` (UTC)."""
    rate = _RATE.match(expression.strip())
    if rate:
        return after + timedelta(seconds=int(rate.group(1)) * _UNITS[rate.group(2).rstrip("s")])
    cron = re.match(r"^cron\((.+)\)$", expression.strip())
    if not cron:
        raise ValueError(f"unsupported schedule expression: {expression}")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ValueError(f"cron needs 6 fields (min hour day month weekday year): {expression}")
    minutes, hours, days, months = (
        _field(fields[0], 0, 59),
        _field(fields[1], 0, 23),
        _field(fields[2], 1, 31),
        _field(fields[3], 1, 12),
    )
    # EventBridge numbers weekdays 1 (Sunday) to 7 (Saturday).
    weekdays = None if fields[4] in ("*", "?") else {(d + 5) % 7 for d in _field(fields[4], 1, 7)}
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if (
            t.minute in minutes
            and t.hour in hours
            and t.month in months
            and (weekdays is None or t.weekday() in weekdays)
            and (fields[2] in ("*", "?") or t.day in days)
        ):
            return t
        t += timedelta(minutes=1)
    raise ValueError(f"schedule never fires: {expression}")


@cache
def interval(expression: str) -> timedelta:
    """How long a job on this schedule may go between runs: the longest gap among a week of its firings."""
    # Cached: a cron schedule is walked minute by minute, and /v1/health asks on every request.
    t = next_time(expression, datetime(2026, 1, 5, tzinfo=UTC))
    longest = timedelta(0)
    # A week of firings (at most 64) covers every weekday of a cron schedule.
    end = t + timedelta(days=7)
    for _ in range(64):
        later = next_time(expression, t)
        longest = max(longest, later - t)
        t = later
        if t >= end:
            break
    return longest
