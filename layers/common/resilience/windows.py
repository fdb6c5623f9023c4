"""Time windows [from, to) of queries: defaults and the checks every query shares; days as UTC midnights."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

DEFAULT_SPAN = timedelta(hours=24)


class WindowError(ValueError):
    """A window a query cannot use; names the offending parameter."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


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
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise WindowError(name, "timestamp must include a UTC offset (e.g. 2026-01-01T12:00:00Z)")
    end = end or (now or datetime.now(UTC))
    start = start or end - DEFAULT_SPAN
    if start >= end:
        raise WindowError("from", "must be before to")
    if end - start > max_span:
        raise WindowError("from", f"window is longer than the retention period ({max_span.days} days)")
    return Window(start.astimezone(UTC), end.astimezone(UTC))


def day_start(day: date) -> datetime:
    """Midnight UTC of a day: where its partition starts, and where retention cuts."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
