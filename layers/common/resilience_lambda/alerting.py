"""One alert evaluation run: evaluate the rules, then publish what the outbox holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from resilience.alerts import Delivery, OutboxEntry, evaluate, publish_outbox
from resilience.metrics import signal_counts
from resilience.notify import render
from resilience.rules import load_rules
from resilience.settings import settings
from resilience_lambda import health_metrics
from resilience_lambda.alert_topic import topic
from resilience_lambda.database import database
from resilience_lambda.observability import logger, metrics


def deliver_outbox() -> Delivery:
    """Publishes unsent notifications; what fails stays in the outbox for the next run."""
    publish = topic()
    if publish is None:
        logger.warning("no ALERT_TOPIC_ARN and no local topic: notifications stay in the outbox")
        return Delivery(error="no topic configured")
    dashboard_url = settings().dashboard_url

    def send(entry: OutboxEntry) -> None:
        publish(render(entry.payload, dashboard_url))

    delivery = publish_outbox(database.transaction, send)
    if delivery.error:
        logger.error(
            "publishing an alert notification failed; it is retried on the next run", extra={"error": delivery.error}
        )
    return delivery


def evaluate_and_publish(now: datetime | None = None) -> dict[str, Any]:
    """Evaluates every rule as of now (default: the current time) and delivers the notifications."""
    rules = load_rules(settings().alert_rules)
    at = now or datetime.now(UTC)
    with database.transaction() as conn:
        result = evaluate(conn, rules, now=at, counts=signal_counts)
    if not result.ran:
        logger.info("alert evaluation skipped", extra={"reason": result.reason})
    elif result.transitions:
        logger.info("alert states changed", extra={"transitions": result.transitions})
    delivery = deliver_outbox()
    metrics.add_metric(name="AlertNotificationsQueued", unit=MetricUnit.Count, value=result.notifications)
    metrics.add_metric(name="AlertNotificationsPublished", unit=MetricUnit.Count, value=delivery.sent)
    metrics.add_metric(name="AlertPublishFailures", unit=MetricUnit.Count, value=delivery.failed)
    with database.transaction() as conn:
        health_metrics.publish_rates(conn, at, settings().metrics_component_limit)
    health_metrics.heartbeat()
    return {
        "evaluated_at": at.isoformat(),
        "ran": result.ran,
        "reason": result.reason or None,
        "rules": len(rules),
        "transitions": result.transitions,
        "notifications": result.notifications,
        "published": delivery.sent,
        "publish_error": delivery.error,
    }
