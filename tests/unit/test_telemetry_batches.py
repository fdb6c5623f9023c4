"""A batch of reported events: what is accepted, what is rejected and why, and the request limits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from resilience.settings import IngestLimits
from resilience.signals import KNOWN_SIGNALS, Signal
from resilience.telemetry import BatchError, parse_batch

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LIMITS = IngestLimits()


def body(*events: object) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def good(**overrides: object) -> dict[str, object]:
    return {"session_id": "s1", "component": "Checkout", "signal": "retry_success", **overrides}


def errors_of(batch_body: bytes) -> list[dict[str, object]]:
    batch = parse_batch(batch_body, LIMITS, now=NOW)
    assert not batch.valid
    assert len(batch.rejected) == 1
    return batch.rejected[0]["errors"]  # type: ignore[no-any-return]


def test_signal_enum_is_the_one_list_of_known_signals() -> None:
    assert set(KNOWN_SIGNALS) == {
        "optimistic_action_start",
        "optimistic_action_success",
        "optimistic_action_rollback",
        "retry_attempt",
        "retry_success",
        "retry_failure",
        "error_boundary_triggered",
        "error_boundary_recovered",
    }
    assert Signal("retry_failure") is Signal.RETRY_FAILURE


def test_a_valid_event_gets_an_id_and_the_receive_time_by_default() -> None:
    batch = parse_batch(body(good()), LIMITS, now=NOW)
    assert batch.rejected == []
    (event,) = batch.valid
    assert uuid.UUID(event.id).version == 4
    assert event.ts == NOW
    assert event.data_json == "{}"


def test_given_id_ts_user_and_data_are_kept() -> None:
    event_id, user_id = uuid.uuid4(), uuid.uuid4()
    batch = parse_batch(
        body(good(id=str(event_id), ts="2026-11-26T11:59:00+02:00", user_id=str(user_id), data={"a": [1, "é"]})),
        LIMITS,
        now=NOW,
    )
    (event,) = batch.valid
    assert event.id == str(event_id)
    assert event.user_id == str(user_id)
    assert event.ts == datetime(2026, 11, 26, 9, 59, tzinfo=UTC)
    assert json.loads(event.data_json) == {"a": [1, "é"]}


def test_invalid_events_are_reported_by_index_and_valid_ones_kept() -> None:
    batch = parse_batch(body(good(), good(signal="bogus"), good()), LIMITS, now=NOW)
    assert len(batch.valid) == 2
    assert [r["index"] for r in batch.rejected] == [1]


@pytest.mark.parametrize("missing", ["session_id", "component", "signal"])
def test_a_missing_required_field_is_named(missing: str) -> None:
    event = good()
    del event[missing]
    assert errors_of(body(event)) == [{"field": missing, "reason": "Field required"}]


def test_an_unknown_signal_lists_the_known_ones() -> None:
    (error,) = errors_of(body(good(signal="retry_maybe")))
    assert error["field"] == "signal"
    for known in KNOWN_SIGNALS:
        assert known in str(error["reason"])


@pytest.mark.parametrize("field", ["id", "user_id"])
@pytest.mark.parametrize(
    "value", ["12345", "0b6f3c1e-2f0e-4a51-9d0c-6a3f3f2b8e1", "0b6f3c1e-2f0e-4a51-9d0c-6a3f3f2b8e1g", 7]
)
def test_ids_must_be_uuids(field: str, value: object) -> None:
    (error,) = errors_of(body(good(**{field: value})))
    assert error["field"] == field
    assert "UUID" in str(error["reason"])


@pytest.mark.parametrize("form", [lambda u: str(u).upper(), lambda u: u.hex, lambda u: u.hex.upper()])
def test_ids_in_other_forms_are_stored_as_postgres_prints_them(form: Callable[[uuid.UUID], str]) -> None:
    event_id, user_id = uuid.uuid4(), uuid.uuid4()
    batch = parse_batch(body(good(id=form(event_id), user_id=form(user_id))), LIMITS, now=NOW)
    (event,) = batch.valid
    assert (event.id, event.user_id) == (str(event_id), str(user_id))


@pytest.mark.parametrize(
    ("ts", "reason_part"),
    [("yesterday", "ISO 8601"), ("2026-11-26T11:00:00", "offset"), (12.5, "not a number")],
)
def test_timestamps_must_be_iso_8601_with_an_offset(ts: object, reason_part: str) -> None:
    (error,) = errors_of(body(good(ts=ts)))
    assert error["field"] == "ts"
    assert reason_part in str(error["reason"])


def test_a_timestamp_far_in_the_future_is_rejected() -> None:
    later = (NOW + timedelta(hours=1)).isoformat()
    (error,) = errors_of(body(good(ts=later)))
    assert error["field"] == "ts"
    assert "future" in str(error["reason"])


def test_a_timestamp_older_than_retention_is_rejected() -> None:
    old = (NOW - timedelta(days=LIMITS.max_age.days + 1)).isoformat()
    (error,) = errors_of(body(good(ts=old)))
    assert "retention" in str(error["reason"])


@pytest.mark.parametrize("data", [[1, 2], "text", 5])
def test_data_must_be_an_object(data: object) -> None:
    (error,) = errors_of(body(good(data=data)))
    assert error["field"] == "data"


def test_deeply_nested_data_is_rejected() -> None:
    nested: dict[str, object] = {}
    cursor = nested
    for _ in range(20):
        cursor["x"] = {}
        cursor = cursor["x"]  # type: ignore[assignment]
    (error,) = errors_of(body(good(data=nested)))
    assert error["field"] == "data"
    assert "nested" in str(error["reason"])


@pytest.mark.parametrize(
    "event",
    [good(component="Check\x00out"), good(session_id="\x00"), good(data={"k": "v\x00"}), good(data={"k\x00": 1})],
)
def test_nul_characters_are_rejected(event: dict[str, object]) -> None:
    (error,) = errors_of(body(event))
    assert "NUL" in str(error["reason"])


def test_overlong_strings_are_rejected() -> None:
    (error,) = errors_of(body(good(component="c" * 5000)))
    assert error["field"] == "component"
    assert "at most" in str(error["reason"])


def test_unknown_fields_are_named() -> None:
    (error,) = errors_of(body(good(singal="retry_success")))
    assert error["field"] == "singal"


def test_an_event_that_is_not_an_object_is_rejected() -> None:
    assert errors_of(body("retry_success")) == [{"field": "event", "reason": "each event must be a JSON object"}]


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        (b"not json", 400, "body"),
        (b"[1, 2]", 400, "body"),
        (b'{"nope": []}', 400, "events"),
        (b'{"events": {"a": 1}}', 400, "events"),
        (b'{"events": []}', 400, "events"),
        (b'{"events": [], "extra": 1}', 400, "extra"),
        (b"\xff\xfe{}", 400, "body"),
        (b"[" * 100_000, 400, "body"),
    ],
)
def test_an_unusable_request_is_refused_whole(raw: bytes, status: int, field: str) -> None:
    with pytest.raises(BatchError) as caught:
        parse_batch(raw, LIMITS, now=NOW)
    assert caught.value.status == status
    assert caught.value.field == field


def test_too_many_events_is_413() -> None:
    with pytest.raises(BatchError) as caught:
        parse_batch(body(*[good()] * (LIMITS.max_events_per_request + 1)), LIMITS, now=NOW)
    assert caught.value.status == 413
    assert str(LIMITS.max_events_per_request) in caught.value.message


def test_an_oversized_event_is_413() -> None:
    with pytest.raises(BatchError) as caught:
        parse_batch(body(good(data={"blob": "x" * (LIMITS.max_event_bytes + 1)})), LIMITS, now=NOW)
    assert caught.value.status == 413
    assert caught.value.field == "events.0"


def test_an_oversized_request_is_413_before_it_is_parsed() -> None:
    with pytest.raises(BatchError) as caught:
        parse_batch(b" " * (LIMITS.max_request_bytes + 1), LIMITS, now=NOW)
    assert caught.value.status == 413
