"""Logger and Metrics, created once and shared by every function."""

import warnings

from aws_lambda_powertools import Logger, Metrics

# Functions that had nothing to count publish nothing; that is not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

SERVICE = "resilience-telemetry"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="ResilienceTelemetry", service=SERVICE)
