"""The ingest queue: valid events sent to SQS in messages under its size limit, every one or an error."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from resilience.event_messages import Entry, bodies, sends
from resilience.telemetry import StoredEvent
from resilience_lambda.observability import logger

# Entries SQS did not take are sent again, waiting twice as long each time: 50 + 100 + 200 ms at
# most, well within the API's 30 s, before the request gives up with 503.
ATTEMPTS = 4
FIRST_WAIT_SECONDS = 0.05


class QueueUnavailable(RuntimeError):
    """Some events could not be queued; the client must send the batch again."""


@cache
def sqs_client() -> Any:
    """The process's SQS client, made on first use (boto3 is in the Lambda runtime)."""
    import boto3

    return boto3.client("sqs")


def enqueue(
    queue_url: str,
    events: Sequence[StoredEvent],
    client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Sends the events to the queue and returns how many messages carried them.

    Each SendMessageBatch call may take some entries and refuse others: the refused ones are sent
    again. Raises QueueUnavailable when some are still refused after the last attempt; those sent
    before stay queued (their ids make the client's retry of the whole batch safe).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or sqs_client()
    messages = bodies(events)
    for call in sends(messages):
        pending: list[Entry] = call
        for attempt in range(ATTEMPTS):
            try:
                answer = client.send_message_batch(
                    QueueUrl=queue_url, Entries=[{"Id": e.id, "MessageBody": e.body.decode()} for e in pending]
                )
                failed = {f["Id"]: f.get("Code", "") for f in answer.get("Failed", [])}
            except (BotoCoreError, ClientError) as exc:
                failed = {e.id: type(exc).__name__ for e in pending}
            pending = [e for e in pending if e.id in failed]
            if not pending:
                break
            logger.warning(
                "the queue refused messages", extra={"refused": len(pending), "codes": sorted(set(failed.values()))}
            )
            if attempt < ATTEMPTS - 1:
                sleep(FIRST_WAIT_SECONDS * 2**attempt)
        if pending:
            raise QueueUnavailable(f"{len(pending)} message(s) could not be queued after {ATTEMPTS} attempts")
    return len(messages)
