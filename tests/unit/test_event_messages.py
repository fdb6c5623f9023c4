"""Valid events as ingest-queue messages: every event carried once, in order, each message under SQS's limit."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from resilience.event_messages import (
    MAX_BATCH_ENTRIES,
    MAX_MESSAGE_BYTES,
    EventTooLarge,
    MessageError,
    bodies,
    events_of,
    sends,
)
from resilience.settings import IngestLimits
from resilience.telemetry import StoredEvent, parse_batch

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def stored(data: str = "{}", **overrides: object) -> StoredEvent:
    fields: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "ts": NOW,
        "user_id": None,
        "session_id": "s1",
        "component": "Checkout",
        "signal": "retry_success",
        "data_json": data,
        **overrides,
    }
    return StoredEvent(**fields)  # type: ignore[arg-type]


def test_a_batch_comes_back_from_its_message_exactly_as_it_went_in() -> None:
    events = [
        stored(),
        stored('{"action":"place-order","note":"ünïcode ✓ \\"quoted\\""}', user_id=str(uuid.uuid4())),
        stored(ts=datetime(2026, 11, 26, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))),
    ]
    (body,) = bodies(events)
    assert events_of(body.decode()) == events


def test_the_largest_request_the_ingest_accepts_splits_into_messages_under_the_limit() -> None:
    limits = IngestLimits()
    # 500 events of about 2 KiB each: a 1 MiB request, four times what one message holds.
    padding = "x" * (limits.max_request_bytes // limits.max_events_per_request - 200)
    request = json.dumps(
        {
            "events": [
                {"session_id": "s1", "component": "Checkout", "signal": "retry_success", "data": {"p": padding}}
                for _ in range(limits.max_events_per_request)
            ]
        }
    ).encode()
    assert len(request) <= limits.max_request_bytes
    events = parse_batch(request, limits, now=NOW).valid
    assert len(events) == limits.max_events_per_request
    messages = bodies(events)
    assert len(messages) > 1
    assert all(len(m) <= MAX_MESSAGE_BYTES for m in messages)
    assert [e for m in messages for e in events_of(m.decode())] == events


def test_messages_are_filled_before_a_new_one_is_started() -> None:
    events = [stored("[" + ",".join(["1"] * 50) + "]") for _ in range(40)]
    one = len(bodies(events[:1])[0])
    limit = one * 10
    messages = bodies(events, limit=limit)
    assert all(len(m) <= limit for m in messages)
    # Each message but the last is full: one more event would not have fitted.
    assert all(len(m) + one > limit for m in messages[:-1])
    assert sum(len(events_of(m.decode())) for m in messages) == 40


def test_an_event_too_large_for_any_message_is_named_by_its_position() -> None:
    events = [stored(), stored('"' + "x" * 1000 + '"'), stored()]
    with pytest.raises(EventTooLarge) as raised:
        bodies(events, limit=500)
    assert raised.value.position == 1
    assert "at most" in str(raised.value)


def test_a_send_takes_at_most_ten_messages_and_the_limit_in_all() -> None:
    messages = [b"m" * 100 for _ in range(25)]
    calls = list(sends(messages, limit=450))
    assert all(len(call) <= MAX_BATCH_ENTRIES for call in calls)
    assert all(sum(len(e.body) for e in call) <= 450 for call in calls)
    assert [e.body for call in calls for e in call] == messages
    # Ids are unique within a call, as SendMessageBatch requires.
    assert all(len({e.id for e in call}) == len(call) for call in calls)
    assert len(list(sends([b"m"] * 25))) == 3


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        '{"events": [["only", "three", "columns"]]}',
        '{"events": [["a", "yesterday", null, "s", "c", "retry_success", "{}"]]}',
        '{"events": [["a", "2026-11-26T12:00:00", null, "s", "c", "retry_success", "{}"]]}',
    ],
)
def test_a_body_the_ingest_did_not_write_is_a_message_error(body: str) -> None:
    with pytest.raises(MessageError):
        events_of(body)
