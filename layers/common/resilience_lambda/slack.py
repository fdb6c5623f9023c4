"""Slack delivery: alert notifications posted to an incoming webhook, with slack_sdk's retry handlers."""

from __future__ import annotations

import json
import logging
import time
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import URLError

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
# What the invocation keeps for itself after the last attempt: raising, so Lambda retries it or
# sends it to the dead-letter queue, rather than being killed mid-post.
RESERVE_SECONDS = 1.0
# A hanging webhook is retried like a refused connection.
CONNECTION_ERRORS: list[type[Exception]] = [URLError, ConnectionResetError, RemoteDisconnected, TimeoutError]

# slack_sdk logs the request URL (the webhook's secret) at DEBUG and on each retry at INFO: its
# client gets a logger of its own that says only what went wrong.
_webhook_log = logging.getLogger("resilience.slack_webhook")
_webhook_log.setLevel(logging.WARNING)


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


class _RateLimitWithinTime(RateLimitErrorRetryHandler):
    """Waits out Slack's Retry-After only when the retry still fits in the invocation's time."""

    def __init__(self, max_retry_count: int, deadline: float | None) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.deadline = deadline

    def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        if self.deadline is None:
            return True
        headers = {k.lower(): v for k, v in response.headers.items()}
        given = (headers.get("retry-after") or ["1"])[0]
        # The handler sleeps Retry-After plus up to a second of jitter.
        wait = (int(given) if str(given).isdigit() else 1) + 1
        return time.monotonic() + wait + RESERVE_SECONDS < self.deadline


def attempt_timeout(remaining_seconds: float) -> float:
    """How long one attempt may wait for Slack, so that every attempt fits in the invocation's time."""
    share = (remaining_seconds - RESERVE_SECONDS) / (RETRIES + 1)
    return max(0.1, min(TIMEOUT_SECONDS, share))


def webhook_client(
    url: str, interval: RetryIntervalCalculator | None = None, remaining_seconds: float | None = None
) -> WebhookClient:
    """Retries 429 (after Retry-After), 500/503, connection errors and timeouts before giving up."""
    interval = interval or RETRY_INTERVAL
    timeout = TIMEOUT_SECONDS if remaining_seconds is None else attempt_timeout(remaining_seconds)
    deadline = None if remaining_seconds is None else time.monotonic() + remaining_seconds
    return WebhookClient(
        url,
        timeout=timeout,  # type: ignore[arg-type]  # urllib takes fractions of a second
        logger=_webhook_log,
        retry_handlers=[
            _RateLimitWithinTime(max_retry_count=RETRIES, deadline=deadline),
            ServerErrorRetryHandler(max_retry_count=RETRIES, interval_calculator=interval),
            ConnectionErrorRetryHandler(
                max_retry_count=RETRIES, interval_calculator=interval, error_types=CONNECTION_ERRORS
            ),
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
