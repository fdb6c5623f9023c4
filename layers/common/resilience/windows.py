"""Time windows [from, to) of queries: defaults and the checks every query shares; days as UTC midnights."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

DEFAULT_SPAN = timedelta(hours=24)

# Python's datetime ends at years 1 and 9999 in a timestamp's own offset, so year 1 east of UTC or
# 9999 west of it cannot be turned into UTC. A day's margin at each end keeps every offset, the
# default span before `to` and the rounding of a window to whole hours and days inside the calendar.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
CALENDAR = "on or after 0001-01-02T00:00:00Z and before 9999-12-31T00:00:00Z"
OUT_OF_RANGE = f"must be {CALENDAR}"
NO_OFFSET = "timestamp must include a UTC offset (e.g. 2026-01-01T12:00:00Z)"


class WindowError(ValueError):
    """A window a query cannot use; names the offending parameter."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def in_calendar(value: datetime) -> bool:
    """Whether an aware timestamp lies between EARLIEST and LATEST: then it, and a day either side, have a UTC form."""
    return EARLIEST <= value < LATEST


def utc(name: str, value: datetime) -> datetime:
    """A given timestamp in UTC, or WindowError naming the parameter: without an offset, or outside the calendar."""
    if value.tzinfo is None:
        raise WindowError(name, NO_OFFSET)
    if not in_calendar(value):
        raise WindowError(name, OUT_OF_RANGE)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def resolve_window(
    start: datetime | None,
    end: datetime | None,
    *,
    max_span: timedelta,
    now: datetime | None = None,
) -> Window:
    """Fills in defaults (to = now, from = to - 24 h) and rejects unusable windows."""
    start = utc("from", start) if start is not None else None
    end = utc("to", end) if end is not None else (now or datetime.now(UTC))
    start = start or end - DEFAULT_SPAN
    if start >= end:
        raise WindowError("from", "must be before to")
    if end - start > max_span:
        raise WindowError("from", f"window is longer than the retention period ({max_span.days} days)")
    return Window(start.astimezone(UTC), end.astimezone(UTC))


def day_start(day: date) -> datetime:
    """Midnight UTC of a day: where its partition starts, and where retention cuts."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
