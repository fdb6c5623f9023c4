"""IngestWriterFunction: stores the events IngestFunction queued (IngestMode=queued)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.settings import ComponentLimits, DatabaseSettings, configure
from resilience_lambda.ingest_writer import store_batch
from resilience_lambda.observability import cloudwatch_metrics, logger

configuration = configure(DatabaseSettings, ComponentLimits)


@logger.inject_lambda_context(clear_state=True)
@cloudwatch_metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(store_batch(event, context))
