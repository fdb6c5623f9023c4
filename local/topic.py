"""AlertTopic locally: the Slack function is invoked in process and e-mails are written to the log."""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING

from local import functions, triggers
from local.template import Template

if TYPE_CHECKING:
    from resilience.notify import Notification

log = logging.getLogger("local.topic")

TOPIC = "AlertTopic"


class LocalTopic:
    """Delivers like SNS: each subscriber gets its protocol's message; a failing subscriber is logged."""

    def __init__(self, template: Template, emails: list[str]) -> None:
        self.subscribers = [fn for fn in template.functions.values() if TOPIC in fn.topics]
        self.emails = emails

    def publish(self, notification: Notification) -> None:
        for address in self.emails:
            log.info("e-mail to %s\nSubject: %s\n\n%s", address, notification.subject, notification.text)
        event = triggers.sns(
            json.dumps(notification.structured), subject=notification.subject, attributes=notification.attributes
        )
        for fn in self.subscribers:
            try:
                functions.invoke(fn, event)
            except Exception:
                # SNS has accepted the message by now; in AWS it would land in the function's DLQ.
                log.exception("%s failed on an alert notification (in AWS: its dead-letter queue)", fn.logical_id)


def install(template: Template) -> LocalTopic:
    """Makes local runs publish alert notifications here (there is no ALERT_TOPIC_ARN locally)."""
    from resilience_lambda.alert_topic import use_local_topic

    emails = [e.strip() for e in os.environ.get("ALERT_EMAILS", "").split(",") if e.strip()]
    topic = LocalTopic(template, emails)
    use_local_topic(topic.publish)
    return topic
