"""SlackNotifierFunction against a real local webhook: retries on 429 and 5xx, failure reaches the DLQ."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.error import URLError

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from local import triggers
from resilience import settings
from resilience.notify import render
from resilience_lambda.slack import SlackDeliveryError
from tests.conftest import alert_payload
from tests.slack_listener import SlackListener

Invoke = Callable[[str, dict[str, Any]], Any]


def alert_event(kind: str = "firing") -> dict[str, Any]:
    notification = render(alert_payload(kind), "http://127.0.0.1:3000/dashboard")
    return triggers.sns(
        json.dumps(notification.structured), subject=notification.subject, attributes=notification.attributes
    )


def test_an_alert_becomes_one_clear_slack_message(slack: SlackListener, invoke: Invoke) -> None:
    assert invoke("SlackNotifierFunction", alert_event()) == {"posted": 1}
    [message] = slack.posts
    assert message["text"].startswith(":rotating_light: FIRING [critical]: rollback_rate is 25%")
    assert "component Checkout" in message["text"]
    shown = json.dumps(message["blocks"])
    for fact in (
        "Checkout",
        "25%",
        "5%",
        "last 15 minutes",
        "20 samples",
        "Breaching since",
        "/v1/alerts/7/acknowledge",
    ):
        assert fact in shown, fact
    assert message["blocks"][-1]["elements"][0]["url"] == "http://127.0.0.1:3000/dashboard"


def test_a_resolution_message_says_resolved(slack: SlackListener, invoke: Invoke) -> None:
    invoke("SlackNotifierFunction", alert_event("resolved"))
    [message] = slack.posts
    assert message["text"].startswith(":white_check_mark: Resolved: rollback_rate is 1.5% for component Checkout")
    assert "acknowledge" not in json.dumps(message["blocks"])


def test_429_is_retried_after_retry_after(slack: SlackListener, invoke: Invoke) -> None:
    slack.answer(429, "rate_limited", {"Retry-After": "0"})
    assert invoke("SlackNotifierFunction", alert_event()) == {"posted": 1}
    assert len(slack.posts) == 2
    assert slack.posts[0] == slack.posts[1]
    assert len(slack.accepted) == 1  # shown once in the channel


def test_a_server_error_is_retried(slack: SlackListener, invoke: Invoke) -> None:
    slack.answer(500, "internal_error")
    assert invoke("SlackNotifierFunction", alert_event()) == {"posted": 1}
    assert len(slack.posts) == 2
    assert len(slack.accepted) == 1


def test_failure_after_the_retries_raises_so_lambda_sends_it_to_the_dead_letter_queue(
    slack: SlackListener, invoke: Invoke
) -> None:
    for _ in range(3):
        slack.answer(500, "internal_error")
    with pytest.raises(SlackDeliveryError, match="Slack answered 500"):
        invoke("SlackNotifierFunction", alert_event())
    assert len(slack.posts) == 3  # the first attempt and two retries


def short_invocation(seconds: float) -> Callable[[dict[str, Any]], tuple[Any, float]]:
    """Runs SlackNotifierFunction with only that much time; returns its result and the time it had left."""
    from local import functions
    from local.functions import LambdaContext
    from local.template import load

    fn = load().functions["SlackNotifierFunction"]

    def run(event: dict[str, Any]) -> tuple[Any, float]:
        context = LambdaContext(fn.logical_id, timeout_seconds=1)
        context._deadline = time.monotonic() + seconds
        result = functions.handler(fn)(event, context)
        return result, context.get_remaining_time_in_millis() / 1000

    return run


def test_a_hanging_webhook_is_retried_within_the_invocations_time(slack: SlackListener, env: Any) -> None:
    slack.answer(200, "ok", delay=3)  # stuck: the first attempt gives up and the retry goes through
    result, left = short_invocation(4)(alert_event())
    assert result == {"posted": 1}
    assert left > 0, "finished before Lambda would have stopped it"
    assert len(slack.accepted) == 1


def test_a_webhook_that_keeps_hanging_fails_the_invocation_before_its_time_is_up(
    slack: SlackListener, env: Any
) -> None:
    for _ in range(3):
        slack.answer(200, "ok", delay=3)
    with pytest.raises((TimeoutError, URLError)):
        short_invocation(3)(alert_event())
    # It raised with time to spare: Lambda retries the event, then sends it to the dead-letter queue.
    assert len(slack.posts) == 3
    assert slack.accepted == []


def test_a_retry_after_longer_than_the_time_left_fails_now_rather_than_be_cut_off(
    slack: SlackListener, env: Any
) -> None:
    slack.answer(429, "rate_limited", {"Retry-After": "30"})
    with pytest.raises(SlackDeliveryError, match="429"):
        short_invocation(5)(alert_event())
    assert len(slack.posts) == 1


def test_a_rejected_message_is_not_retried_and_raises(slack: SlackListener, invoke: Invoke) -> None:
    slack.answer(400, "invalid_blocks")
    with pytest.raises(SlackDeliveryError, match="400"):
        invoke("SlackNotifierFunction", alert_event())
    assert len(slack.posts) == 1


def test_other_messages_on_the_topic_are_posted_as_text(slack: SlackListener, invoke: Invoke) -> None:
    invoke("SlackNotifierFunction", triggers.sns("Something else entirely", subject="Hello"))
    assert slack.texts == ["*Hello*\nSomething else entirely"]


@pytest.fixture
def aws(slack: SlackListener, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Secrets Manager and SSM in moto, and no SLACK_WEBHOOK_URL: the webhook must come from AWS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("SLACK_WEBHOOK_URL")
    parameters.clear_caches()
    with mock_aws():
        yield monkeypatch
    parameters.clear_caches()


def test_the_webhook_url_comes_from_secrets_manager(
    slack: SlackListener, invoke: Invoke, aws: pytest.MonkeyPatch
) -> None:
    secret = boto3.client("secretsmanager").create_secret(
        Name="slack-webhook", SecretString=json.dumps({"url": slack.url})
    )
    aws.setenv("SLACK_WEBHOOK_SECRET_ARN", secret["ARN"])
    settings.reload()
    assert invoke("SlackNotifierFunction", alert_event()) == {"posted": 1}
    assert invoke("SlackNotifierFunction", alert_event("resolved")) == {"posted": 1}
    assert len(slack.posts) == 2


def test_the_webhook_url_comes_from_an_ssm_secure_string(
    slack: SlackListener, invoke: Invoke, aws: pytest.MonkeyPatch
) -> None:
    boto3.client("ssm").put_parameter(Name="/alerts/slack-webhook", Value=slack.url, Type="SecureString")
    aws.setenv("SLACK_WEBHOOK_PARAMETER", "/alerts/slack-webhook")
    settings.reload()
    assert invoke("SlackNotifierFunction", alert_event()) == {"posted": 1}
    assert len(slack.posts) == 1


def test_without_a_webhook_nothing_is_posted(env: dict[str, str], invoke: Invoke) -> None:
    assert invoke("SlackNotifierFunction", alert_event()) == {"posted": 0}
