"""Alert notifications as people read them: the e-mail text, the subject, the SNS message per protocol."""

from __future__ import annotations

import json
from typing import Any

from resilience.notify import GROUP_CAP, MAX_SUBJECT, group, render, slack_message
from resilience_lambda import alert_topic
from tests.conftest import alert_payload


def test_the_message_has_plain_text_for_email_and_a_structured_body_for_the_slack_function() -> None:
    notification = render(alert_payload(), "https://example.test/dashboard")
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
    resolved = alert_payload("resolved")
    resolved["alert"]["component"] = None
    notification = render(resolved, None)
    assert notification.subject.startswith("Resolved")
    assert notification.text.startswith("Resolved")
    assert "all components" in notification.text
    assert "all components" in notification.subject


def test_the_subject_is_short_printable_ascii_whatever_the_component_is_called() -> None:
    odd = alert_payload()
    odd["alert"]["component"] = "Caisse\u00e9\nFormulaire " + "x" * 150
    subject = render(odd, None).subject
    assert len(subject) < 100
    assert all(" " <= ch <= "~" for ch in subject)
    assert subject.startswith("[critical] FIRING: rollback_rate for component Caisse??Formulaire x")
    assert subject.endswith("...")


def many(count: int, kind: str = "firing", severity: str = "critical") -> list[dict[str, Any]]:
    """One evaluation's notifications: `count` components of the same rule, all of one kind and severity."""
    messages = []
    for i in range(count):
        payload = alert_payload(kind)
        payload["alert"] = {**payload["alert"], "id": 100 + i, "component": f"Component{i:02}", "severity": severity}
        messages.append(payload)
    return messages


def test_one_evaluations_notifications_are_one_message_per_severity_critical_first() -> None:
    warnings = many(3, severity="warning")
    criticals = many(2) + many(1, "resolved")
    grouped = group(warnings + criticals)
    assert [(g["kind"], g["severity"]) for g in grouped] == [("group", "critical"), ("group", "warning")]
    assert [n["kind"] for n in grouped[0]["notifications"]] == ["firing", "firing", "resolved"]
    assert group(many(1)) == many(1)  # a lone notification stays as it is


def test_fifty_alerts_are_one_capped_e_mail_and_one_slack_message() -> None:
    [payload] = group(many(50))
    notification = render(payload, "https://example.test/dashboard")
    assert notification.subject.startswith("50 alerts [critical]: 50 firing")
    assert len(notification.subject) <= MAX_SUBJECT
    listed = [line for line in notification.text.splitlines() if line.startswith("- ")]
    assert len(listed) == GROUP_CAP + 1
    assert listed[-1] == f"- and {50 - GROUP_CAP} more (see the dashboard)"
    assert "component Component00" in notification.text
    assert "component Component49" not in notification.text
    # The structured body is capped too, so SNS's size limit holds however many alerts there are.
    assert len(alert_topic.sns_message(notification)["Message"]) < 64 * 1024
    slack = slack_message(notification.structured)
    assert slack["text"].startswith(":rotating_light: 50 alerts [critical]")
    lines = slack["blocks"][1]["text"]["text"].splitlines()
    assert len(lines) == GROUP_CAP
    assert "and 40 more" in json.dumps(slack["blocks"])
    assert len(slack["blocks"]) <= 50


def test_a_resolution_of_many_alerts_is_one_message_that_says_resolved() -> None:
    [payload] = group(many(12, "resolved", "warning"))
    notification = render(payload, None)
    assert notification.subject.startswith("Resolved: 12 alerts [warning]")
    assert notification.text.startswith("Resolved: 12 alerts [warning]")
    assert "To acknowledge" not in notification.text
    assert slack_message(notification.structured)["text"].startswith(":white_check_mark: Resolved: 12 alerts")
    assert notification.attributes == {"severity": "warning", "metric": "rollback_rate", "kind": "group"}


def test_a_burn_rate_alert_speaks_of_its_objective_and_burn_rate() -> None:
    payload = alert_payload()
    payload["alert"] = {**payload["alert"], "objective": 99.0, "value": 20.0, "threshold": 14.4}
    text = render(payload, None).text
    assert "burning the 99% objective's error budget 20x" in text
    assert "alert at 14.4x" in text
