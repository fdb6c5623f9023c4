"""UserTelemetryFunction: GET /v1/me/telemetry, a signed-in user's own events (behind the API's JWT authorizer)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.settings import DatabaseSettings, RawRetention, UserTokens, configure
from resilience_lambda.api import telemetry
from resilience_lambda.api.http import build_resolver
from resilience_lambda.observability import cloudwatch_metrics, logger

configuration = configure(DatabaseSettings, RawRetention, UserTokens)

app = build_resolver([telemetry.user_router])


@logger.inject_lambda_context(clear_state=True)
@cloudwatch_metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
