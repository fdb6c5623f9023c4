"""MetricsQueryFunction: the admin API, its documentation and the health check."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.settings import (
    AdminSettings,
    AlertRuleSettings,
    DatabaseSettings,
    JobSchedules,
    QueryWindows,
    ReaderSettings,
    configure,
)
from resilience_lambda.api import alerts, dashboard, health, ingest, metrics, silences, telemetry
from resilience_lambda.api.http import build_resolver
from resilience_lambda.observability import cloudwatch_metrics, logger

configuration = configure(
    DatabaseSettings, ReaderSettings, AdminSettings, QueryWindows, AlertRuleSettings, JobSchedules
)

# The ingest and user routers are included for the API documentation only: API Gateway sends
# POST /v1/telemetry to IngestFunction and GET /v1/me/telemetry to UserTelemetryFunction (template.yaml).
app = build_resolver(
    [
        health.router,
        telemetry.router,
        telemetry.user_router,
        metrics.router,
        alerts.router,
        silences.router,
        ingest.router,
        dashboard.router,
    ],
    docs=True,
)


@logger.inject_lambda_context(clear_state=True)
@cloudwatch_metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
