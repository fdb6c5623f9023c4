"""AlertEvaluationFunction: on its schedule, evaluates the alert rules and publishes notifications."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.settings import AlertDelivery, AlertRuleSettings, DatabaseSettings, HealthMetricSettings, configure
from resilience_lambda.alerting import evaluate_and_publish
from resilience_lambda.observability import cloudwatch_metrics, logger
from resilience_lambda.tracing import tracer

configuration = configure(DatabaseSettings, AlertRuleSettings, AlertDelivery, HealthMetricSettings)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@cloudwatch_metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return evaluate_and_publish()
