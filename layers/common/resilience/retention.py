"""Retention: the cleanup run that removes raw events, rollups and resolved alerts past their keep."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from resilience.settings import Settings
from resilience.store import alerts, outbox, partitions, rollups
from resilience.store.partitions import Target

# Small enough that each delete is a short transaction beside live ingest.
DELETE_BATCH = 10_000

_DELETE_EXPIRED_DEFAULT = """
DELETE FROM resilience_metrics_default
WHERE ctid = ANY (ARRAY(SELECT ctid FROM resilience_metrics_default WHERE ts < %s LIMIT %s))
"""


def cutoff(now: datetime, days: int) -> datetime:
    """Midnight UTC, `days` days before now's day: what is older has expired.

    Whole days, so a cutoff always falls on a partition boundary and a row is kept for at
    least `days` days (at most one day more).
    """
    today = now.astimezone(UTC).date()
    return partitions.day_start(today - timedelta(days=days))


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
        }

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        for name in ("raw_cutoff", "rollup_cutoff", "alert_cutoff"):
            values[name] = values[name].isoformat()
        values["raw_rows_removed"] = self.raw_rows_removed
        return values


def delete_expired_default(target: Target, before: datetime) -> int:
    """Deletes rows older than before from the default partition, in short batches."""
    total = 0
    while True:
        with partitions.transaction(target) as conn:
            deleted = conn.execute(_DELETE_EXPIRED_DEFAULT, (before, DELETE_BATCH)).rowcount
        total += deleted
        # Fewer than a batch: nothing is left, or a concurrent run is deleting the rest.
        if deleted < DELETE_BATCH:
            return total


def run(target: Target, settings: Settings, now: datetime | None = None) -> CleanupReport:
    """One cleanup run, every step a short transaction of its own.

    That keeps it safe beside live ingest, safe to repeat, and safe to run twice at once.
    """
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    report = CleanupReport(
        raw_cutoff=cutoff(now, settings.retention_days),
        rollup_cutoff=cutoff(now, settings.rollup_retention_days),
        alert_cutoff=cutoff(now, settings.alert_retention_days),
    )

    # Hours still pending a rollup are recomputed from raw rows: roll them up before those go.
    with partitions.transaction(target) as conn:
        rollups.refresh(conn)

    dropped = partitions.drop_before(target, report.raw_cutoff)
    report.default_rows_deleted = delete_expired_default(target, report.raw_cutoff)
    upkeep = partitions.ensure_ahead(target, settings.partitions_ahead_days, today)
    upkeep.merge(partitions.adopt_strays(target, report.raw_cutoff, partitions.day_start(today)))
    report.partitions_dropped = dropped.dropped
    report.partition_rows_dropped = dropped.rows_dropped
    report.partitions_created = upkeep.created
    report.partitions_deferred = dropped.deferred + upkeep.deferred

    with partitions.transaction(target) as conn:
        report.rollup_rows_trimmed = rollups.trim(conn, report.rollup_cutoff)
    with partitions.transaction(target) as conn:
        report.alerts_purged = alerts.purge_resolved(conn, report.alert_cutoff)
        outbox.purge_sent(conn, report.alert_cutoff)
    return report
