"""Alert notifications as people read them: the e-mail text, the subject, the SNS message per protocol."""

from __future__ import annotations

import json

from resilience.notify import render
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
