"""Publishing the outbox to AlertTopic: a message per protocol, attributes, and no loss when SNS fails."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import psycopg
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from local import triggers
from resilience import settings
from resilience.store.outbox import unsent
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
        settings.reload()
        alert_topic.sns_client.cache_clear()
        yield {"sns": sns, "sqs": sqs, "topic_arn": topic_arn, "queue_url": queue_url}


def received(aws: dict[str, Any]) -> list[dict[str, Any]]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_the_evaluation_function_publishes_once_to_alert_topic(
    aws: dict[str, Any], db: psycopg.Connection, invoke: Callable[[str, dict[str, Any]], Any]
) -> None:
    breaching_traffic(db)
    result = invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    assert (result["notifications"], result["published"], result["publish_error"]) == (1, 1, None)
    [envelope] = received(aws)
    assert envelope["Subject"] == "[warning] FIRING: rollback_rate for all components"
    assert envelope["Message"].startswith("FIRING [warning]: rollback_rate is 50%")
    assert envelope["MessageAttributes"]["severity"]["Value"] == "warning"
    assert envelope["MessageAttributes"]["metric"]["Value"] == "rollback_rate"

    again = invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    assert (again["notifications"], again["published"]) == (0, 0)
    assert received(aws) == []
    assert list(unsent(db)) == []


def test_a_failed_publish_stays_in_the_outbox_and_goes_out_on_the_next_run(
    aws: dict[str, Any], db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("sns")
    stubber = Stubber(client)
    monkeypatch.setattr(alert_topic, "sns_client", lambda: client)
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
    # Two severities: the evaluation's four notifications go out as two messages, critical first.
    rule = {"metric": "rollback_rate", "pending_minutes": 0, "per_component": True}
    pages = {**rule, "name": "pages", "severity": "critical"}
    monkeypatch.setenv("ALERT_RULES", json.dumps([pages, {**rule, "name": "tickets", "severity": "warning"}]))
    settings.reload()
    with stubber:
        first = evaluate_and_publish()
        assert (first["notifications"], first["published"]) == (4, 0)
        assert "SNS is having a bad day" in first["publish_error"]
        waiting = list(unsent(db))
        # The failure stopped the pass: the second message was not sent ahead of the first.
        assert [(e.attempts, e.payload["severity"]) for e in waiting] == [(1, "critical"), (0, "warning")]
        assert all(len(e.payload["notifications"]) == 2 for e in waiting)
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
    settings.reload()
    breaching_traffic(db)
    result = evaluate_and_publish()
    assert (result["notifications"], result["published"]) == (1, 0)
    assert len(list(unsent(db))) == 1


def traffic_at(db: psycopg.Connection, component: str, at: Any, rollbacks: int, successes: int) -> None:
    db.execute(
        """INSERT INTO resilience_metrics (ts, session_id, component, signal)
           SELECT %s, 's' || g, %s, CASE WHEN g <= %s THEN 'optimistic_action_rollback'
                                         ELSE 'optimistic_action_success' END
           FROM generate_series(1, %s) g""",
        (at, component, rollbacks, rollbacks + successes),
    )


def test_sns_down_for_several_evaluations_then_back_delivers_every_notification_once_in_order(
    aws: dict[str, Any], db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    rule = {"name": "by-component", "metric": "rollback_rate", "pending_minutes": 0, "repeat_minutes": 600}
    monkeypatch.setenv("ALERT_RULES", json.dumps([{**rule, "per_component": True, "window_minutes": 15}]))
    settings.reload()
    sns, topic_arn = aws["sns"], aws["topic_arn"]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

    def evaluation(minutes: int) -> dict[str, Any]:
        return evaluate_and_publish(now=t0 + timedelta(minutes=minutes))

    sns.delete_topic(TopicArn=topic_arn)  # SNS is gone: every publish fails
    traffic_at(db, "Checkout", t0 - timedelta(minutes=1), rollbacks=10, successes=10)
    first = evaluation(0)
    traffic_at(db, "Search", t0 + timedelta(minutes=19), rollbacks=10, successes=10)
    second = evaluation(20)
    traffic_at(db, "Checkout", t0 + timedelta(minutes=39), rollbacks=0, successes=20)
    third = evaluation(40)
    assert [r["published"] for r in (first, second, third)] == [0, 0, 0]
    assert all(r["publish_error"] for r in (first, second, third))
    assert [(e.kind, e.payload["alert"]["component"]) for e in unsent(db)] == [
        ("firing", "Checkout"),
        ("firing", "Search"),
        ("resolved", "Checkout"),
    ]

    # SNS is back (the same topic, its subscription restored).
    assert sns.create_topic(Name="AlertTopic")["TopicArn"] == topic_arn
    queue_arn = aws["sqs"].get_queue_attributes(QueueUrl=aws["queue_url"], AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
    fourth = evaluation(60)
    fifth = evaluation(80)
    assert (fourth["published"], fourth["publish_error"], fifth["published"]) == (3, None, 0)
    delivered = [(m["Subject"].split(":")[0], m["Subject"].rsplit(" ", 1)[-1]) for m in received(aws)]
    assert delivered == [
        ("[warning] FIRING", "Checkout"),
        ("[warning] FIRING", "Search"),
        ("Resolved", "Checkout"),
    ]
    assert received(aws) == []
    assert list(unsent(db)) == []
