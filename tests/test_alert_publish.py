"""Publishing the outbox to AlertTopic: a message per protocol, attributes, and no loss when SNS fails."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import psycopg
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from local import events
from resilience.alerts import unsent
from resilience.notify import render
from resilience.settings import settings
from resilience_lambda import alert_topic
from resilience_lambda.alerting import deliver_outbox, evaluate_and_publish

FIRE_AT_ONCE = json.dumps([{"name": "rollbacks", "metric": "rollback_rate", "pending_minutes": 0}])


def breaching_traffic(db: psycopg.Connection, component: str = "Checkout") -> None:
    db.execute(
        """INSERT INTO resilience_metrics (ts, session_id, component, signal)
           SELECT now() - interval '1 minute', 's' || g, %s,
                  CASE WHEN g %% 2 = 0 THEN 'optimistic_action_rollback' ELSE 'optimistic_action_success' END
           FROM generate_series(1, 20) g""",
        (component,),
    )


@pytest.fixture
def aws(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """AlertTopic in moto with an SQS queue subscribed, and ALERT_TOPIC_ARN pointing at it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sns = boto3.client("sns")
        sqs = boto3.client("sqs")
        topic_arn = sns.create_topic(Name="AlertTopic")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("ALERT_TOPIC_ARN", topic_arn)
        monkeypatch.setenv("ALERT_RULES", FIRE_AT_ONCE)
        settings.cache_clear()
        alert_topic._sns_client.cache_clear()
        yield {"sns": sns, "sqs": sqs, "topic_arn": topic_arn, "queue_url": queue_url}


def received(aws: dict[str, Any]) -> list[dict[str, Any]]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def payload(kind: str = "firing") -> dict[str, Any]:
    at = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    return {
        "kind": kind,
        "at": at.isoformat(),
        "rule": {
            "name": "rollbacks",
            "window_minutes": 15,
            "min_samples": 10,
            "pending_minutes": 5,
            "repeat_minutes": 60,
        },
        "alert": {
            "id": 7,
            "rule": "rollbacks",
            "metric": "rollback_rate",
            "component": "Checkout",
            "state": "resolved" if kind == "resolved" else "firing",
            "severity": "critical",
            "operator": "gt",
            "value": 1.5 if kind == "resolved" else 25.0,
            "threshold": 5.0,
            "numerator": 5,
            "denominator": 20,
            "samples": 20,
            "window_minutes": 15,
            "started_at": (at - timedelta(minutes=95)).isoformat(),
            "fired_at": (at - timedelta(minutes=90)).isoformat(),
            "resolved_at": at.isoformat() if kind == "resolved" else None,
            "evaluated_at": at.isoformat(),
            "last_notified_at": at.isoformat(),
            "acknowledged_at": None,
            "acknowledged_by": None,
            "acknowledge_note": None,
        },
    }


def test_the_message_has_plain_text_for_email_and_a_structured_body_for_the_slack_function() -> None:
    notification = render(payload(), "https://example.test/dashboard")
    args = alert_topic.sns_message(notification)
    assert args["MessageStructure"] == "json"
    message = json.loads(args["Message"])
    assert message["default"] == message["email"] == notification.text
    assert "component Checkout" in message["email"]
    assert "25%" in message["email"]
    assert "https://example.test/dashboard" in message["email"]
    assert "/v1/alerts/7/acknowledge" in message["email"]
    structured = json.loads(message["lambda"])
    assert (structured["kind"], structured["alert"]["component"]) == ("firing", "Checkout")
    assert args["MessageAttributes"]["severity"] == {"DataType": "String", "StringValue": "critical"}
    assert args["MessageAttributes"]["metric"] == {"DataType": "String", "StringValue": "rollback_rate"}
    assert len(args["Subject"]) <= 100


def test_a_resolution_says_resolved_and_a_global_alert_names_all_components() -> None:
    resolved = payload("resolved")
    resolved["alert"]["component"] = None
    notification = render(resolved, None)
    assert notification.subject.startswith("Resolved")
    assert notification.text.startswith("Resolved")
    assert "all components" in notification.text
    assert "all components" in notification.subject


def test_the_evaluation_function_publishes_once_to_alert_topic(
    aws: dict[str, Any], db: psycopg.Connection, invoke: Callable[[str, dict[str, Any]], Any]
) -> None:
    breaching_traffic(db)
    result = invoke("AlertEvaluationFunction", events.scheduled("AlertEvaluationSchedule"))
    assert (result["notifications"], result["published"], result["publish_error"]) == (1, 1, None)
    [envelope] = received(aws)
    assert envelope["Subject"] == "[warning] FIRING: rollback_rate for all components"
    assert envelope["Message"].startswith("FIRING [warning]: rollback_rate is 50%")
    assert envelope["MessageAttributes"]["severity"]["Value"] == "warning"
    assert envelope["MessageAttributes"]["metric"]["Value"] == "rollback_rate"

    again = invoke("AlertEvaluationFunction", events.scheduled("AlertEvaluationSchedule"))
    assert (again["notifications"], again["published"]) == (0, 0)
    assert received(aws) == []
    assert list(unsent(db)) == []


def test_a_failed_publish_stays_in_the_outbox_and_goes_out_on_the_next_run(
    aws: dict[str, Any], db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("sns")
    stubber = Stubber(client)
    monkeypatch.setattr(alert_topic, "_sns_client", lambda: client)
    expected = {
        "TopicArn": aws["topic_arn"],
        "Subject": ANY,
        "MessageStructure": "json",
        "Message": ANY,
        "MessageAttributes": ANY,
    }
    stubber.add_client_error("publish", "InternalError", "SNS is having a bad day", 500, expected_params=expected)
    stubber.add_response("publish", {"MessageId": "m-1"}, expected)
    stubber.add_response("publish", {"MessageId": "m-2"}, expected)

    breaching_traffic(db, "Checkout")
    breaching_traffic(db, "Search")
    monkeypatch.setenv(
        "ALERT_RULES",
        json.dumps([{"name": "by-component", "metric": "rollback_rate", "pending_minutes": 0, "per_component": True}]),
    )
    settings.cache_clear()
    with stubber:
        first = evaluate_and_publish()
        assert (first["notifications"], first["published"]) == (2, 0)
        assert "SNS is having a bad day" in first["publish_error"]
        waiting = list(unsent(db))
        # The failure stopped the pass: the second notification was not sent ahead of the first.
        assert [(e.attempts, e.payload["alert"]["component"]) for e in waiting] == [(1, "Checkout"), (0, "Search")]
        last_error = db.execute("SELECT last_error FROM alert_outbox ORDER BY id LIMIT 1").fetchone()[0]
        assert "(InternalError)" in last_error

        second = deliver_outbox()
        assert (second.sent, second.failed, second.error) == (2, 0, None)
        stubber.assert_no_pending_responses()
    assert list(unsent(db)) == []
    assert db.execute("SELECT array_agg(attempts ORDER BY id) FROM alert_outbox").fetchone()[0] == [2, 1]


def test_without_a_topic_notifications_wait_in_the_outbox(
    env: dict[str, str], db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert_topic.use_local_topic(None)
    monkeypatch.setenv("ALERT_RULES", FIRE_AT_ONCE)
    settings.cache_clear()
    breaching_traffic(db)
    result = evaluate_and_publish()
    assert (result["notifications"], result["published"]) == (1, 0)
    assert len(list(unsent(db))) == 1


def test_the_template_wires_alert_topic_email_subscriptions_and_the_publish_permission(template: Any) -> None:
    resources = template.resources
    assert resources["AlertTopic"]["Type"] == "AWS::SNS::Topic"
    name, collection, body = resources["Fn::ForEach::AlertEmailSubscriptions"]
    assert (name, collection) == ("Email", {"Ref": "AlertEmails"})
    [subscription] = body.values()
    assert subscription["Type"] == "AWS::SNS::Subscription"
    # AlertEmails defaults to empty: the condition keeps that single empty item from being created.
    assert subscription["Condition"] == "HasAlertEmails"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlertTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "Email"},
    }
    assert template.parameters["AlertEmails"]["Type"] == "CommaDelimitedList"

    evaluation = resources["AlertEvaluationFunction"]["Properties"]
    assert {"SNSPublishMessagePolicy": {"TopicName": {"Fn::GetAtt": ["AlertTopic", "TopicName"]}}} in evaluation[
        "Policies"
    ]
    assert evaluation["Environment"]["Variables"]["ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}
    [schedule] = template.functions["AlertEvaluationFunction"].schedules
    assert schedule.expression == {"Ref": "AlertEvaluationSchedule"}
    assert template.parameters["AlertEvaluationSchedule"]["Default"] == "rate(5 minutes)"


def test_the_subject_is_short_printable_ascii_whatever_the_component_is_called() -> None:
    odd = payload()
    odd["alert"]["component"] = "Caisse\u00e9\nFormulaire " + "x" * 150
    subject = render(odd, None).subject
    assert len(subject) < 100
    assert all(" " <= ch <= "~" for ch in subject)
    assert subject.startswith("[critical] FIRING: rollback_rate for component Caisse??Formulaire x")
    assert subject.endswith("...")
