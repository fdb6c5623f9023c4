"""IngestWriterFunction's work: an SQS batch of queued events stored, the messages that failed reported back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from resilience.event_messages import MessageError, events_of
from resilience.jobs.queued_ingest import write
from resilience.settings import ComponentLimits, load
from resilience.store.database import DatabaseUnavailable
from resilience.telemetry import StoredEvent
from resilience_lambda.database import database
from resilience_lambda.observability import cloudwatch_metrics, logger

processor = BatchProcessor(event_type=EventType.SQS)


def store_batch(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Stores every message of the batch; the answer lists those that failed, which SQS delivers again.

    The whole batch is tried first in one transaction (one COPY for a thousand small messages). If
    that fails for a reason other than the database being down, each message is stored on its own,
    so one bad message is retried, and in the end dead-lettered, alone. With the database down the
    invocation fails as a whole and every message comes back after the visibility timeout.
    """
    decoded: dict[str, list[StoredEvent]] = {}
    for record in event.get("Records", []):
        with suppress(MessageError):
            decoded[record["messageId"]] = events_of(record["body"])
    stored_together = _store_together(decoded)
    down: list[DatabaseUnavailable] = []

    def store_record(record: SQSRecord) -> None:
        if record.message_id in stored_together:
            return
        if down:
            # Every connection attempt would wait its timeout; the first failure stands for all.
            raise down[0]
        try:
            _store([events_of(record.body)])
        except DatabaseUnavailable as exc:
            down.append(exc)
            raise

    return process_partial_response(event=event, record_handler=store_record, processor=processor, context=context)


def _store_together(decoded: Mapping[str, list[StoredEvent]]) -> set[str]:
    """The ids of the messages stored in one transaction: all of them, or none."""
    if not decoded:
        return set()
    try:
        _store(list(decoded.values()))
    except DatabaseUnavailable:
        raise
    except Exception:
        logger.exception("the batch could not be stored whole; storing its messages one by one")
        return set()
    return set(decoded)


def _store(messages: Sequence[list[StoredEvent]]) -> None:
    limit = load(ComponentLimits).max_components
    with database.session() as conn:
        written = write(conn, [e for events in messages for e in events], limit)
    cloudwatch_metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=written.stored)
    cloudwatch_metrics.add_metric(name="EventsDuplicate", unit=MetricUnit.Count, value=written.duplicates)
    if written.refused:
        cloudwatch_metrics.add_metric(name="EventsRejectedComponentLimit", unit=MetricUnit.Count, value=written.refused)
        # The client had its 202 already: the log and the metric are how operators hear of it.
        logger.warning(
            "queued events of new components beyond MAX_COMPONENTS were not stored",
            extra={"events": written.refused, "components": list(written.refused_components)[:20], "limit": limit},
        )
