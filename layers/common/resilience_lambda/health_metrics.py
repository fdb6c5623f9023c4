"""The service's health as CloudWatch metrics: the evaluation's heartbeat, the three rates, the rollup lag."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import Metrics, MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from resilience.components import rank
from resilience.rates import Rate, Status
from resilience.rules import DEFAULT_WINDOW_MINUTES, AlertRule, judging_rules
from resilience.store.counts import signal_counts
from resilience.store.database import Connection
from resilience.store.rollups import oldest_pending_hour
from resilience.windows import Window
from resilience_lambda.observability import cloudwatch_metrics, metric_document

HEARTBEAT = "AlertEvaluationHeartbeat"
ROLLUP_LAG = "RollupLagSeconds"
# The window of the default alert rules: what the dashboard shows is what the rules judge.
RATE_WINDOW = timedelta(minutes=DEFAULT_WINDOW_MINUTES)


def heartbeat() -> None:
    """One per completed evaluation; the deployment's alarm fires when they stop."""
    cloudwatch_metrics.add_metric(name=HEARTBEAT, unit=MetricUnit.Count, value=1)


def _add_rates(target: Metrics | AmazonCloudWatchEMFProvider, rates: Iterable[Rate]) -> int:
    # Below its minimum sample count a rate means nothing, as in the API: it is left out.
    measured = [r for r in rates if r.status is not Status.NO_DATA and r.value is not None]
    for rate in measured:
        target.add_metric(name=rate.metric, unit=MetricUnit.Percent, value=float(rate.value or 0))
    return len(measured)


def publish_rates(conn: Connection, now: datetime, rules: Sequence[AlertRule], component_limit: int) -> list[str]:
    """The three rates over the window ending now, for all components and for the busiest ones.

    They are judged by the active rules, as the API judges them. All components go with the
    invocation's metrics; each component is a document of its own with a `component` dimension.
    Returns the components published.
    """
    window = Window(now - RATE_WINDOW, now)
    overall = signal_counts(conn, window)
    _add_rates(cloudwatch_metrics, [rule.rate(overall) for rule in judging_rules(rules, per_component=False)])
    components = rank(signal_counts(conn, window, by_component=True), rules)
    busiest = sorted(components, key=lambda c: (-c.events, c.component))[:component_limit]
    published = []
    for item in busiest:
        document = metric_document(component=item.component)
        if _add_rates(document, item.metrics):
            document.flush_metrics()
            published.append(item.component)
    return published


def publish_rollup_lag(conn: Connection, now: datetime) -> float:
    """Seconds since the end of the oldest hour still waiting for a refresh (0 when none has closed)."""
    oldest = oldest_pending_hour(conn)
    lag = 0.0 if oldest is None else max(0.0, (now - (oldest + timedelta(hours=1))).total_seconds())
    cloudwatch_metrics.add_metric(name=ROLLUP_LAG, unit=MetricUnit.Seconds, value=lag)
    return lag
