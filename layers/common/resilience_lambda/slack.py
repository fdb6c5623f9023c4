"""Slack delivery: alert notifications posted to an incoming webhook, with slack_sdk's retry handlers."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import default_interval_calculator
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from resilience.notify import slack_message
from resilience.settings import SlackSettings, load
from resilience_lambda.secrets import parameter, secret

RETRIES = 2
TIMEOUT_SECONDS = 10
# Exponential backoff with jitter between retries of 5xx and connection errors.
RETRY_INTERVAL: RetryIntervalCalculator = default_interval_calculator


class SlackDeliveryError(RuntimeError):
    """Slack did not accept the message after the retries; the invocation fails so it reaches the DLQ."""


def _url_from_secret(text: str) -> str:
    text = text.strip()
    if text.startswith("{"):
        document = json.loads(text)
        for key in ("url", "webhook_url", "SLACK_WEBHOOK_URL"):
            if document.get(key):
                return str(document[key])
        raise SlackDeliveryError('the Slack webhook secret is JSON without a "url" field')
    return text


def webhook_url() -> str | None:
    """SLACK_WEBHOOK_URL locally; in AWS the Secrets Manager secret or SSM parameter that holds it."""
    s = load(SlackSettings)
    if s.slack_webhook_url:
        return s.slack_webhook_url
    if s.slack_webhook_secret_arn:
        return _url_from_secret(secret(s.slack_webhook_secret_arn))
    if s.slack_webhook_parameter:
        return _url_from_secret(parameter(s.slack_webhook_parameter))
    return None


def webhook_client(url: str, interval: RetryIntervalCalculator | None = None) -> WebhookClient:
    """Retries 429 (after Retry-After), 500/503 and connection errors before giving up."""
    interval = interval or RETRY_INTERVAL
    return WebhookClient(
        url,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=RETRIES),
            ServerErrorRetryHandler(max_retry_count=RETRIES, interval_calculator=interval),
            ConnectionErrorRetryHandler(max_retry_count=RETRIES, interval_calculator=interval),
        ],
    )


def message_for(text: str, subject: str | None) -> dict[str, Any]:
    """The Slack message for an SNS message: the structured alert body, or any other text as is."""
    try:
        structured = json.loads(text)
    except ValueError:
        structured = None
    if (
        isinstance(structured, dict)
        and "kind" in structured
        and ("alert" in structured or "notifications" in structured)
    ):
        return slack_message(structured)
    return {"text": f"*{subject}*\n{text}" if subject else text}


def post(client: WebhookClient, message: dict[str, Any]) -> None:
    response = client.send_dict(message)
    if response.status_code != 200:
        raise SlackDeliveryError(f"Slack answered {response.status_code}: {str(response.body)[:200]}")
