"""RefreshFunction: rolls up the hours and days that received events since the last run."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.rollups import refresh
from resilience_lambda.database import database
from resilience_lambda.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    with database.transaction() as conn:
        result = refresh(conn)
    metrics.add_metric(name="RollupHoursRefreshed", unit=MetricUnit.Count, value=result.hours)
    metrics.add_metric(name="RollupDaysRefreshed", unit=MetricUnit.Count, value=result.days)
    logger.info("rollups refreshed", extra=result.as_dict())
    return result.as_dict()
