"""RefreshFunction: rolls up the hours and days that received events since the last run."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.heartbeats import Job
from resilience.settings import DatabaseSettings, PartitionSettings, configure, load
from resilience.store import job_runs, partitions
from resilience.store.rollups import refresh
from resilience_lambda import health_metrics
from resilience_lambda.database import database
from resilience_lambda.observability import cloudwatch_metrics, logger

configuration = configure(DatabaseSettings, PartitionSettings)


@logger.inject_lambda_context(clear_state=True)
@cloudwatch_metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    with database.transaction() as conn:
        health_metrics.publish_rollup_lag(conn, now)
        result = refresh(conn, connect=database.connect)
        job_runs.record(conn, Job.REFRESH, now)
    # The daily cleanup creates partitions ahead too; doing it hourly as well means one failed
    # cleanup never leaves tomorrow's events to the default partition.
    upkeep = partitions.ensure_ahead(database, load(PartitionSettings).partitions_ahead_days)
    cloudwatch_metrics.add_metric(name="RollupHoursRefreshed", unit=MetricUnit.Count, value=result.hours)
    cloudwatch_metrics.add_metric(name="RollupDaysRefreshed", unit=MetricUnit.Count, value=result.days)
    summary = {**result.as_dict(), "partitions_created": upkeep.created, "partitions_deferred": upkeep.deferred}
    logger.info("rollups refreshed", extra=summary)
    return summary
