"""Valid events as queue messages: packed under the queue's size limit by the ingest, read back by the writer."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from resilience.telemetry import StoredEvent

# SQS's historical limit on a message, and on the sum of one SendMessageBatch call's messages. SQS
# takes 1 MiB since 2025, but bills every 64 KiB as one request, so larger messages save nothing,
# and staying under the old limit keeps queues and tools configured for it working.
MAX_MESSAGE_BYTES = 256 * 1024
# Entries one SendMessageBatch call takes.
MAX_BATCH_ENTRIES = 10
_OPEN, _CLOSE, _SEPARATOR = b'{"events":[', b"]}", b","
_FRAME = len(_OPEN) + len(_CLOSE)


class MessageError(ValueError):
    """A message body that is not a list of events as the ingest writes them: retrying cannot store it."""


class EventTooLarge(ValueError):
    """One event alone does not fit in a message."""

    def __init__(self, position: int, size: int) -> None:
        super().__init__(f"event {position} is {size} bytes as a message; a message holds at most {MAX_MESSAGE_BYTES}")
        self.position = position


def _row(event: StoredEvent) -> bytes:
    """An event as the message holds it: its columns in the table's order, ids as text, data as its JSON text."""
    return json.dumps(
        [
            event.id,
            event.ts.isoformat(),
            event.user_id,
            event.session_id,
            event.component,
            event.signal,
            event.data_json,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def bodies(events: Sequence[StoredEvent], limit: int = MAX_MESSAGE_BYTES) -> list[bytes]:
    """The events packed, in order, into as few message bodies as fit under the limit."""
    found: list[bytes] = []
    rows: list[bytes] = []
    size = _FRAME
    for position, event in enumerate(events):
        row = _row(event)
        if _FRAME + len(row) > limit:
            raise EventTooLarge(position, _FRAME + len(row))
        added = len(row) + (len(_SEPARATOR) if rows else 0)
        if size + added > limit:
            found.append(_OPEN + _SEPARATOR.join(rows) + _CLOSE)
            rows, size, added = [], _FRAME, len(row)
        rows.append(row)
        size += added
    if rows:
        found.append(_OPEN + _SEPARATOR.join(rows) + _CLOSE)
    return found


@dataclass(frozen=True)
class Entry:
    """One message of a send: an id unique within its call, and the body."""

    id: str
    body: bytes


def sends(messages: Sequence[bytes], limit: int = MAX_MESSAGE_BYTES) -> Iterator[list[Entry]]:
    """The messages grouped into calls of SendMessageBatch: at most ten entries, at most the limit in all."""
    call: list[Entry] = []
    size = 0
    for index, body in enumerate(messages):
        if call and (len(call) == MAX_BATCH_ENTRIES or size + len(body) > limit):
            yield call
            call, size = [], 0
        call.append(Entry(str(index), body))
        size += len(body)
    if call:
        yield call


def events_of(body: str) -> list[StoredEvent]:
    """The events of a message body; MessageError when it is not one the ingest wrote."""
    try:
        rows = json.loads(body)["events"]
        events = [
            StoredEvent(str(i), datetime.fromisoformat(ts), u, str(s), str(c), str(sig), str(d))
            for i, ts, u, s, c, sig, d in rows
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise MessageError(f"not a message of queued events: {exc}") from exc
    if any(e.ts.tzinfo is None for e in events):
        raise MessageError("not a message of queued events: a timestamp without its offset")
    return events
