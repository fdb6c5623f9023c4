"""IngestWriterFunction's work: an SQS batch of queued events stored, the messages that failed reported back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from resilience.event_messages import MessageError, events_of
from resilience.jobs.queued_ingest import write
from resilience.settings import ComponentLimits, load
from resilience.store.database import DatabaseUnavailable
from resilience.store.telemetry import Unstorable
from resilience.telemetry import StoredEvent
from resilience_lambda.database import database
from resilience_lambda.observability import cloudwatch_metrics, logger

processor = BatchProcessor(event_type=EventType.SQS)


def store_batch(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Stores every message of the batch; the answer lists those that failed, which SQS delivers again.

    The whole batch is tried first in one transaction (one COPY for a thousand small messages). If
    that fails for a reason other than the database being down, each message is stored on its own,
    and a message that still fails is stored event by event: an event Postgres refuses is dropped
    alone (counted, its id logged), and the rest of its message is stored. A message that is not one
    the ingest wrote fails alone and, retried, ends in the dead-letter queue. With the database down
    the invocation fails as a whole and every message comes back after the visibility timeout.
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
            _store_message(events_of(record.body))
        except DatabaseUnavailable as exc:
            down.append(exc)
            raise

    return process_partial_response(event=event, record_handler=store_record, processor=processor, context=context)


def _store_together(decoded: Mapping[str, list[StoredEvent]]) -> set[str]:
    """The ids of the messages stored in one transaction: all of them, or none."""
    if not decoded:
        return set()
    try:
        _store([e for events in decoded.values() for e in events], requests=len(decoded))
    except DatabaseUnavailable:
        raise
    except Exception:
        logger.exception("the batch could not be stored whole; storing its messages one by one")
        return set()
    return set(decoded)


def _store_message(events: Sequence[StoredEvent]) -> None:
    """One message's events, whole if Postgres takes them; else each alone, the poison ones dropped."""
    try:
        _store(events)
        return
    except Unstorable:
        logger.warning("a message holds an event the database refuses; storing its events one by one")
    dropped: list[str] = []
    for one in events:
        try:
            _store([one])
        except Unstorable as exc:
            dropped.append(one.id)
            logger.error("dropped a queued event the database refuses", extra={"event_id": one.id, "error": str(exc)})
    cloudwatch_metrics.add_metric(name="EventsDroppedUnstorable", unit=MetricUnit.Count, value=len(dropped))


def _store(events: Sequence[StoredEvent], requests: int = 1) -> None:
    """Stores events of this many queued requests; each request registers its share of new components."""
    limits = load(ComponentLimits)
    limit = limits.max_components
    with database.session() as conn:
        written = write(
            conn,
            events,
            limit,
            seen_on=datetime.now(UTC).date(),
            new_at_most=limits.max_new_components_per_request * requests,
        )
    cloudwatch_metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=written.stored)
    cloudwatch_metrics.add_metric(name="EventsDuplicate", unit=MetricUnit.Count, value=written.duplicates)
    if written.held:
        cloudwatch_metrics.add_metric(name="EventsHeldComponentLimit", unit=MetricUnit.Count, value=written.held)
        # The client had its 202 already: the events wait apart until the registry has room.
        logger.warning(
            "queued events of new components beyond MAX_COMPONENTS or MAX_NEW_COMPONENTS_PER_REQUEST are held",
            extra={"events": written.held, "components": list(written.held_components)[:20], "limit": limit},
        )
