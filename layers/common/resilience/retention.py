"""Retention: when raw events, rollups and resolved alerts expire, and what a cleanup run did."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from resilience.windows import day_start


def cutoff(now: datetime, days: int) -> datetime:
    """Midnight UTC, `days` days before now's day: what is older has expired.

    Whole days, so a cutoff always falls on a partition boundary and a row is kept for at
    least `days` days (at most one day more).
    """
    today = now.astimezone(UTC).date()
    return day_start(today - timedelta(days=days))


@dataclass
class CleanupReport:
    """What one cleanup run removed, created, and left for the next run."""

    raw_cutoff: datetime
    rollup_cutoff: datetime
    alert_cutoff: datetime
    partitions_dropped: list[str] = field(default_factory=list)
    partition_rows_dropped: int = 0
    default_rows_deleted: int = 0
    partitions_created: list[str] = field(default_factory=list)
    partitions_deferred: list[str] = field(default_factory=list)
    rollup_rows_trimmed: dict[str, int] = field(default_factory=dict)
    alerts_purged: int = 0
    components_forgotten: int = 0
    held_events_stored: int = 0
    held_events_expired: int = 0

    @property
    def raw_rows_removed(self) -> int:
        return self.partition_rows_dropped + self.default_rows_deleted

    def counts(self) -> dict[str, int]:
        """The figures worth a metric each, by metric name."""
        return {
            "PartitionsDropped": len(self.partitions_dropped),
            "RawRowsRemoved": self.raw_rows_removed,
            "DefaultPartitionRowsDeleted": self.default_rows_deleted,
            "PartitionsCreated": len(self.partitions_created),
            "PartitionsDeferred": len(self.partitions_deferred),
            "RollupRowsTrimmed": sum(self.rollup_rows_trimmed.values()),
            "ResolvedAlertsPurged": self.alerts_purged,
            "ComponentsForgotten": self.components_forgotten,
            "HeldEventsStored": self.held_events_stored,
            "HeldEventsExpired": self.held_events_expired,
        }

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        for name in ("raw_cutoff", "rollup_cutoff", "alert_cutoff"):
            values[name] = values[name].isoformat()
        values["raw_rows_removed"] = self.raw_rows_removed
        return values
