"""AlertTopic: notifications published to SNS with a message per protocol, or to a local stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from resilience.notify import Notification
from resilience.settings import AlertDelivery, load

Publish = Callable[[Notification], None]

_local_topic: Publish | None = None


def sns_message(notification: Notification) -> dict[str, Any]:
    """The arguments of sns.publish: plain text for e-mail, the structured body for the Slack function."""
    message = {
        "default": notification.text,
        "email": notification.text,
        "lambda": json.dumps(notification.structured, separators=(",", ":")),
    }
    return {
        "Subject": notification.subject,
        "MessageStructure": "json",
        "Message": json.dumps(message),
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in notification.attributes.items()
        },
    }


@cache
def sns_client() -> Any:
    """The process's SNS client, made on first use."""
    import boto3  # in the Lambda runtime; imported late so functions that never publish skip its cost

    return boto3.client("sns")


def sns_publisher(topic_arn: str, client: Any = None) -> Publish:
    def publish(notification: Notification) -> None:
        (client or sns_client()).publish(TopicArn=topic_arn, **sns_message(notification))

    return publish


def use_local_topic(publish: Publish | None) -> None:
    """Local runs deliver in process (local/topic.py) where AWS would have AlertTopic."""
    global _local_topic
    _local_topic = publish


def topic() -> Publish | None:
    """Where notifications go: AlertTopic when ALERT_TOPIC_ARN is set, else the local stand-in if any."""
    arn = load(AlertDelivery).alert_topic_arn
    if arn:
        return sns_publisher(arn)
    return _local_topic
