"""CleanupFunction: removes raw events, rollups and resolved alerts past their retention."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.jobs import cleanup
from resilience.settings import ComponentLimits, DatabaseSettings, RetentionSettings, configure, load
from resilience_lambda.database import database
from resilience_lambda.observability import cloudwatch_metrics, logger

configuration = configure(DatabaseSettings, RetentionSettings, ComponentLimits)


@logger.inject_lambda_context(clear_state=True)
@cloudwatch_metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = cleanup.run(database, load(RetentionSettings), max_components=load(ComponentLimits).max_components)
    for name, value in report.counts().items():
        cloudwatch_metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    summary = report.as_dict()
    if report.partitions_deferred:
        # Not an error: the next run takes them up; persistent deferrals point at long transactions.
        logger.warning("cleanup deferred partition changes, their locks stayed busy", extra=summary)
    else:
        logger.info("cleanup finished", extra=summary)
    return summary
