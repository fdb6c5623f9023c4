"""The Powertools Logger and the CloudWatch metrics (EMF), created once and shared by every function."""

import os
import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

# Functions that had nothing to count publish nothing; that is not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# In AWS each stack names itself, so the metrics of two stacks in one account stay apart.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "resilience-telemetry"
NAMESPACE = "ResilienceTelemetry"


class _EMFProvider(AmazonCloudWatchEMFProvider):
    """Drops the metrics of an invocation when publishing is disabled (local runs, tests).

    Powertools keeps them instead, and prints them anyway once a hundred values pile up.
    """

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        super().flush_metrics(raise_on_empty_metrics)
        if is_metrics_disabled():
            self.clear_metrics()


logger = Logger(service=SERVICE)
cloudwatch_metrics = Metrics(provider=_EMFProvider(namespace=NAMESPACE, service=SERVICE))


def metric_document(**dimensions: str) -> AmazonCloudWatchEMFProvider:
    """Metrics with dimensions of their own beside the service's, published by their own flush_metrics()."""
    document = _EMFProvider(namespace=NAMESPACE, service=SERVICE)
    for name, value in dimensions.items():
        document.add_dimension(name=name, value=value)
    return document
