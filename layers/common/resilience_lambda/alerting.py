"""One alert evaluation run: evaluate the rules, then publish what the outbox holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from resilience.jobs.evaluation import evaluate
from resilience.notify import render
from resilience.settings import AlertDelivery, AlertRuleSettings, HealthMetricSettings, load
from resilience.store import outbox
from resilience.store.outbox import Delivery, OutboxEntry
from resilience_lambda import health_metrics
from resilience_lambda.alert_topic import topic
from resilience_lambda.database import database
from resilience_lambda.observability import cloudwatch_metrics, logger


def deliver_outbox() -> Delivery:
    """Publishes unsent notifications; what fails stays in the outbox for the next run."""
    publish = topic()
    if publish is None:
        logger.warning("no ALERT_TOPIC_ARN and no local topic: notifications stay in the outbox")
        return Delivery(error="no topic configured")
    dashboard_url = load(AlertDelivery).dashboard_url

    def send(entry: OutboxEntry) -> None:
        publish(render(entry.payload, dashboard_url))

    delivery = outbox.publish(database.transaction, send)
    if delivery.error:
        logger.error(
            "publishing an alert notification failed; it is retried on the next run", extra={"error": delivery.error}
        )
    return delivery


def evaluate_and_publish(now: datetime | None = None) -> dict[str, Any]:
    """Evaluates every rule as of now (default: the current time) and delivers the notifications."""
    rules = load(AlertRuleSettings).rules
    at = now or datetime.now(UTC)
    with database.transaction() as conn:
        result = evaluate(conn, rules, now=at)
    if not result.ran:
        logger.info("alert evaluation skipped", extra={"reason": result.reason})
    elif result.transitions:
        logger.info("alert states changed", extra={"transitions": result.transitions})
    delivery = deliver_outbox()
    cloudwatch_metrics.add_metric(name="AlertNotificationsQueued", unit=MetricUnit.Count, value=result.notifications)
    cloudwatch_metrics.add_metric(name="AlertNotificationsHeld", unit=MetricUnit.Count, value=result.held)
    cloudwatch_metrics.add_metric(name="AlertNotificationsPublished", unit=MetricUnit.Count, value=delivery.sent)
    cloudwatch_metrics.add_metric(name="AlertPublishFailures", unit=MetricUnit.Count, value=delivery.failed)
    with database.transaction() as conn:
        health_metrics.publish_rates(conn, at, rules, load(HealthMetricSettings).metrics_component_limit)
    health_metrics.heartbeat()
    return {
        "evaluated_at": at.isoformat(),
        "ran": result.ran,
        "reason": result.reason or None,
        "rules": len(rules),
        "transitions": result.transitions,
        "notifications": result.notifications,
        "held": result.held,
        "published": delivery.sent,
        "publish_error": delivery.error,
    }
