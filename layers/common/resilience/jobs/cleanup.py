"""The cleanup run: raw events, rollups, resolved alerts and ended silences past retention go; partitions made ahead."""

from __future__ import annotations

from datetime import UTC, datetime

from resilience.retention import CleanupReport, cutoff
from resilience.settings import ComponentLimits, RetentionSettings
from resilience.store import alerts, held_events, known_components, outbox, partitions, rollups, silences
from resilience.store.partitions import Target
from resilience.windows import day_start


def run(
    target: Target,
    settings: RetentionSettings,
    now: datetime | None = None,
    max_components: int = ComponentLimits().max_components,
) -> CleanupReport:
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
    report.default_rows_deleted = partitions.delete_expired_default(target, report.raw_cutoff)
    upkeep = partitions.ensure_ahead(target, settings.partitions_ahead_days, today)
    upkeep.merge(partitions.adopt_strays(target, report.raw_cutoff, day_start(today)))
    report.partitions_dropped = dropped.dropped
    report.partition_rows_dropped = dropped.rows_dropped
    report.partitions_created = upkeep.created
    report.partitions_deferred = dropped.deferred + upkeep.deferred

    with partitions.transaction(target) as conn:
        report.rollup_rows_trimmed = rollups.trim(conn, report.rollup_cutoff)
    # Names invented once stop counting against the limit; held events get the room they free.
    with partitions.transaction(target) as conn:
        report.components_forgotten = known_components.forget_unseen(conn, report.raw_cutoff.date())
    with partitions.transaction(target) as conn:
        report.held_events_stored = held_events.release(conn, max_components, seen_on=today)
        report.held_events_expired = held_events.expire(conn, report.raw_cutoff)
    with partitions.transaction(target) as conn:
        report.alerts_purged = alerts.purge_resolved(conn, report.alert_cutoff)
        outbox.purge_sent(conn, report.alert_cutoff)
        silences.purge_ended(conn, report.alert_cutoff)
    return report
