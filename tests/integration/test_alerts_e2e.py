"""From traffic to Slack: one message per breach, none more, reminders until acknowledged, one resolution."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local import triggers
from local.topic import LocalTopic
from resilience import settings
from resilience_lambda.alerting import evaluate_and_publish
from tests.conftest import Api, signal_event
from tests.slack_listener import SlackListener

CHECKOUT_RULE = {
    "name": "component-rollbacks",
    "metric": "rollback_rate",
    "per_component": True,
    "window_minutes": 240,
    "pending_minutes": 5,
    "repeat_minutes": 30,
}


def send(api: Api, component: str, *, rollbacks: int, successes: int) -> None:
    batch = [signal_event("optimistic_action_rollback", component) for _ in range(rollbacks)]
    batch += [signal_event("optimistic_action_success", component) for _ in range(successes)]
    answer = api.post("/v1/telemetry", {"events": batch}, token=None)
    assert answer.status == 200
    assert answer.body["accepted"] == len(batch)


def test_a_breaching_component_alerts_once_reminds_until_acknowledged_and_resolves_once(
    api: Api, slack: SlackListener, local_topic: LocalTopic, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setenv("ALERT_RULES", json.dumps([CHECKOUT_RULE]))
    settings.reload()
    send(api, "Checkout", rollbacks=10, successes=10)
    send(api, "Search", rollbacks=0, successes=200)
    t0 = datetime.now(UTC)

    def evaluate_at(minutes: int) -> dict[str, Any]:
        return evaluate_and_publish(now=t0 + timedelta(minutes=minutes))

    evaluate_at(0)
    assert slack.posts == []  # pending

    with caplog.at_level(logging.INFO, logger="local.topic"):
        evaluate_at(5)
    [firing] = slack.texts
    assert firing.startswith(":rotating_light: FIRING [warning]: rollback_rate is 50%")
    assert "component Checkout" in firing
    assert "e-mail to oncall@example.com" in caplog.text
    assert "component Checkout" in caplog.text

    for minutes in (6, 10, 20, 30):
        evaluate_at(minutes)
    assert len(slack.posts) == 1

    evaluate_at(35)
    assert len(slack.posts) == 2
    assert slack.texts[1].startswith(":bell: Reminder: still firing [warning]")

    [alert] = api.get("/v1/alerts", query={"state": "firing"}).body["alerts"]
    assert alert["component"] == "Checkout"
    assert api.post(f"/v1/alerts/{alert['id']}/acknowledge", {"by": "ana"}).status == 200
    for minutes in (65, 95, 125):
        evaluate_at(minutes)
    assert len(slack.posts) == 2

    send(api, "Checkout", rollbacks=0, successes=400)
    evaluate_at(130)
    evaluate_at(135)
    assert len(slack.posts) == 3
    assert slack.texts[2].startswith(":white_check_mark: Resolved: rollback_rate is 2.381% for component Checkout")
    assert api.get("/v1/alerts", query={"state": "resolved"}).body["alerts"][0]["id"] == alert["id"]


def test_the_scheduled_function_delivers_to_slack_through_the_local_topic(
    api: Api,
    slack: SlackListener,
    local_topic: LocalTopic,
    invoke: Callable[[str, dict[str, Any]], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERT_RULES", json.dumps([{**CHECKOUT_RULE, "pending_minutes": 0}]))
    settings.reload()
    send(api, "Checkout", rollbacks=10, successes=10)
    first = invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    second = invoke("AlertEvaluationFunction", triggers.scheduled("AlertEvaluationSchedule"))
    assert (first["published"], second["published"]) == (1, 0)
    [message] = slack.posts
    assert "component Checkout" in message["text"]
    assert "http://127.0.0.1:3000/dashboard" in json.dumps(message["blocks"])


def test_a_slack_outage_is_logged_like_a_dead_letter_and_does_not_block_the_outbox(
    api: Api, slack: SlackListener, local_topic: LocalTopic, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setenv("ALERT_RULES", json.dumps([{**CHECKOUT_RULE, "pending_minutes": 0}]))
    settings.reload()
    for _ in range(3):
        slack.answer(503, "unavailable")
    send(api, "Checkout", rollbacks=10, successes=10)
    with caplog.at_level(logging.ERROR, logger="local.topic"):
        result = evaluate_and_publish()
    # SNS accepted the message; the Slack function's failure is the dead-letter queue's business.
    assert result["published"] == 1
    assert "dead-letter queue" in caplog.text
    assert len(slack.posts) == 3


def test_fifty_components_breaching_at_once_are_one_slack_message_and_one_e_mail(
    api: Api, slack: SlackListener, local_topic: LocalTopic, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setenv("ALERT_RULES", json.dumps([{**CHECKOUT_RULE, "pending_minutes": 0}]))
    settings.reload()
    batch = []
    for i in range(50):
        batch += [signal_event("optimistic_action_rollback", f"Component{i:02}") for _ in range(5)]
        batch += [signal_event("optimistic_action_success", f"Component{i:02}") for _ in range(5)]
    for start in range(0, len(batch), 500):
        assert api.post("/v1/telemetry", {"events": batch[start : start + 500]}, token=None).body["accepted"] == 500

    with caplog.at_level(logging.INFO, logger="local.topic"):
        fired = evaluate_and_publish()
    assert (fired["notifications"], fired["published"]) == (50, 1)
    [message] = slack.posts
    assert message["text"].startswith(":rotating_light: 50 alerts [warning]: 50 firing")
    assert "and 40 more" in json.dumps(message["blocks"])
    e_mails = [r for r in caplog.records if r.getMessage().startswith("e-mail to oncall@example.com")]
    assert len(e_mails) == 1
    assert "50 alerts [warning]" in e_mails[0].getMessage()
    # Every alert's timeline says it was told, in that one message.
    alerts = api.get("/v1/alerts", query={"state": "firing", "limit": 100}).body["alerts"]
    assert len(alerts) == 50
    timeline = api.get(f"/v1/alerts/{alerts[-1]['id']}").body["timeline"]
    assert [(e["kind"], e["detail"]) for e in timeline] == [
        ("firing", None),
        ("notified", "firing notification (grouped)"),
    ]

    send_all = [signal_event("optimistic_action_success", f"Component{i:02}") for i in range(50) for _ in range(400)]
    for start in range(0, len(send_all), 500):
        api.post("/v1/telemetry", {"events": send_all[start : start + 500]}, token=None)
    resolved = evaluate_and_publish(now=datetime.now(UTC) + timedelta(minutes=1))
    assert (resolved["notifications"], resolved["published"]) == (50, 1)
    assert len(slack.posts) == 2
    assert slack.texts[1].startswith(":white_check_mark: Resolved: 50 alerts [warning]")
