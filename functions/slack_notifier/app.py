"""SlackNotifierFunction: posts each alert notification of AlertTopic to the Slack webhook."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from resilience.settings import SlackSettings, configure
from resilience_lambda.observability import logger
from resilience_lambda.slack import message_for, post, webhook_client, webhook_url
from resilience_lambda.tracing import tracer

configuration = configure(SlackSettings)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_source(data_class=SNSEvent)
def lambda_handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    url = webhook_url()
    if not url:
        logger.warning("no Slack webhook configured: notification not posted")
        return {"posted": 0}
    client = webhook_client(url, remaining_seconds=context.get_remaining_time_in_millis() / 1000)
    posted = 0
    for record in event.records:
        # A failure raises: Lambda retries the invocation, then sends it to the dead-letter queue.
        post(client, message_for(record.sns.message, record.sns.subject))
        posted += 1
    logger.info("posted to Slack", extra={"messages": posted})
    return {"posted": posted}
