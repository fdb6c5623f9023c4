"""History: signal counts per hour or day, as the rollups keep them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from resilience.timestamps import Timestamp

# More points than this in one answer: the caller narrows the window or filters.
MAX_SERIES_POINTS = 20_000


class Granularity(StrEnum):
    HOUR = "hour"
    DAY = "day"

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self is Granularity.HOUR else timedelta(days=1)

    def floor(self, moment: datetime) -> datetime:
        """The start of the bucket (UTC) that holds moment."""
        start = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return start.replace(hour=0) if self is Granularity.DAY else start


class SeriesPoint(BaseModel):
    """One bucket's count of one signal of one component, and its distinct users and sessions."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    bucket: Timestamp
    component: str
    signal: str
    count: int
    unique_users: int
    unique_sessions: int


class SeriesTooLarge(ValueError):
    """The series would have more points than one answer may carry."""
