"""IngestFunction: POST /v1/telemetry."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.settings import (
    ComponentLimits,
    DatabaseSettings,
    IngestAccess,
    IngestLimits,
    IngestRouting,
    IngestTokenSettings,
    OriginPolicy,
    configure,
)
from resilience_lambda.api import ingest
from resilience_lambda.api.http import build_resolver
from resilience_lambda.observability import cloudwatch_metrics, logger

configuration = configure(
    DatabaseSettings, IngestLimits, IngestAccess, ComponentLimits, IngestRouting, OriginPolicy, IngestTokenSettings
)

# The body is parsed and validated event by event (resilience.telemetry), not by Powertools.
app = build_resolver([ingest.router], validation=False)


@logger.inject_lambda_context(clear_state=True)
@cloudwatch_metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
