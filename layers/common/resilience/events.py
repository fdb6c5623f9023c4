"""A reported resilience event, and the validation of a batch of them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import to_json

from resilience.settings import Settings
from resilience.signals import KNOWN_SIGNALS, Signal
from resilience.validation import field_error

MAX_TEXT = 200
MAX_DATA_DEPTH = 8
# Not blank, no NUL: checked by the validator's regex engine, not per event in Python.
_PRINTABLE = r"^[^\x00]*[^\s\x00][^\x00]*$"
# Keys, quotes, the signal, two UUIDs and a timestamp: the serialised event beyond its free text.
_FIXED_FIELDS_BYTES = 200


class TelemetryEvent(BaseModel):
    """One signal as a client reports it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    id: uuid.UUID | None = Field(None, description="Client-chosen id; a repeated id is stored once")
    ts: AwareDatetime | None = Field(
        None, description="When it happened, ISO 8601 with offset; defaults to receive time"
    )
    session_id: str = Field(min_length=1, max_length=MAX_TEXT, pattern=_PRINTABLE)
    component: str = Field(min_length=1, max_length=MAX_TEXT, pattern=_PRINTABLE)
    signal: Signal
    user_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)


def _data_problem(data: dict[str, Any], data_json: str) -> str | None:
    """Why data cannot be stored, or None.

    Nesting can't exceed the number of brackets, and JSON writes a NUL as \\u0000: most data is
    cleared by its serialised form alone, so the walk runs only for the rest.
    """
    if "\\u0000" not in data_json and data_json.count("{") + data_json.count("[") <= MAX_DATA_DEPTH:
        return None
    try:
        _check_json_value(data, depth=1)
    except ValueError as exc:
        return str(exc)
    return None


def _check_json_value(value: Any, depth: int) -> None:
    """Postgres jsonb refuses NUL characters; deep nesting is a sign of abuse, not telemetry."""
    if depth > MAX_DATA_DEPTH:
        raise ValueError(f"is nested deeper than {MAX_DATA_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError("must not contain NUL characters in keys")
            _check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, depth + 1)


class BatchError(Exception):
    """The request as a whole is unusable: its status code and a message naming the reason."""

    def __init__(self, status: int, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Limits:
    max_events: int = 500
    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 1024 * 1024
    max_future_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=90)

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            max_events=s.max_events_per_request,
            max_event_bytes=s.max_event_bytes,
            max_request_bytes=s.max_request_bytes,
            max_future_skew=timedelta(seconds=s.max_future_skew_seconds),
            max_age=timedelta(days=s.retention_days),
        )


class StoredEvent(NamedTuple):
    """A valid event, ready to be written: every default filled in, fields in the table's column order."""

    id: uuid.UUID
    ts: datetime
    user_id: uuid.UUID | None
    session_id: str
    component: str
    signal: str
    data_json: str


class Envelope(BaseModel):
    """The request body: validated whole in one pass when every event is valid (the usual case)."""

    model_config = ConfigDict(extra="forbid")

    events: list[TelemetryEvent] = Field(min_length=1)


@dataclass
class Batch:
    valid: list[StoredEvent] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _reason(error: Any) -> dict[str, str]:
    if error["type"] == "enum":
        return {**field_error(error, "event"), "reason": "unknown signal; known signals: " + ", ".join(KNOWN_SIGNALS)}
    if error["type"] == "string_pattern_mismatch":
        return {**field_error(error, "event"), "reason": "must not be blank or contain NUL characters"}
    if error["type"] == "model_type":
        return {"field": "event", "reason": "each event must be a JSON object"}
    return field_error(error, "event")


def _events_of(body: bytes, limits: Limits) -> list[Any]:
    """The events list of a body the fast path refused, or the reason the request is unusable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BatchError(400, f"request body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BatchError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise BatchError(400, 'request body must be a JSON object like {"events": [...]}')
    if "events" not in document:
        raise BatchError(400, "events is required", field="events")
    unexpected = sorted(set(document) - {"events"})
    if unexpected:
        raise BatchError(400, f"unexpected field(s): {', '.join(unexpected)}", field=unexpected[0])
    events = document["events"]
    if not isinstance(events, list):
        raise BatchError(400, "events must be a list", field="events")
    if not events:
        raise BatchError(400, "events must not be empty", field="events")
    if len(events) > limits.max_events:
        raise BatchError(413, f"{len(events)} events in one request; the limit is {limits.max_events}", field="events")
    return events


def parse_batch(body: bytes, limits: Limits, now: datetime | None = None) -> Batch:
    """Validates a request body: raises BatchError for the request, reports bad events by index."""
    if len(body) > limits.max_request_bytes:
        raise BatchError(413, f"request body is {len(body)} bytes; the limit is {limits.max_request_bytes}")
    try:
        # One pass in the validator's own JSON parser; anything it refuses takes the slow path
        # below, which finds the request-level problem or the rejected events one by one.
        events: list[Any] = Envelope.model_validate_json(body).events
    except ValidationError:
        events = _events_of(body, limits)
    if len(events) > limits.max_events:
        raise BatchError(413, f"{len(events)} events in one request; the limit is {limits.max_events}", field="events")
    received = now or datetime.now(UTC)
    latest = received + limits.max_future_skew
    earliest = received - limits.max_age
    batch = Batch()
    for index, raw in enumerate(events):
        if isinstance(raw, TelemetryEvent):
            event = raw
        else:
            try:
                event = TelemetryEvent.model_validate(raw)
            except ValidationError as exc:
                batch.rejected.append({"index": index, "errors": [_reason(e) for e in exc.errors()]})
                continue
        data_json = to_json(event.data).decode()
        problem = _data_problem(event.data, data_json)
        if problem:
            batch.rejected.append({"index": index, "errors": [{"field": "data", "reason": problem}]})
            continue
        # The other fields are bounded by their own limits; this stays within a few hundred bytes of
        # the event's own serialised size without serialising it a second time.
        size = len(data_json) + len(event.session_id) + len(event.component) + _FIXED_FIELDS_BYTES
        if size > limits.max_event_bytes:
            raise BatchError(
                413,
                f"event {index} is about {size} bytes; the limit per event is {limits.max_event_bytes}",
                field=f"events.{index}",
            )
        ts = event.ts or received
        if ts > latest:
            reason = f"is more than {int(limits.max_future_skew.total_seconds())} s in the future"
            batch.rejected.append({"index": index, "errors": [{"field": "ts", "reason": reason}]})
            continue
        if ts < earliest:
            reason = f"is older than the retention period ({limits.max_age.days} days)"
            batch.rejected.append({"index": index, "errors": [{"field": "ts", "reason": reason}]})
            continue
        batch.valid.append(
            StoredEvent(
                id=event.id or uuid.uuid4(),
                ts=ts,
                user_id=event.user_id,
                session_id=event.session_id,
                component=event.component,
                signal=event.signal.value,
                data_json=data_json,
            )
        )
    return batch
