"""Telemetry events: what a client reports, how a batch of them is validated, and an event as stored."""

from __future__ import annotations

import json
import math
import re
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticSerializationError, to_json

from resilience.settings import IngestLimits
from resilience.signals import KNOWN_SIGNALS, Signal
from resilience.timestamps import Timestamp
from resilience.validation import UNPAIRED_SURROGATE, field_error

MAX_TEXT = 200
MAX_DATA_DEPTH = 8
# The errors reported for one event: past them the rest are counted, so an answer stays small.
MAX_ERRORS_PER_EVENT = 10
# More keys than an event has fields is abuse: refused at once, before pydantic builds an error for each.
_MAX_EVENT_KEYS = 16
# Fewer bytes than this per object or list is a body of tiny values, not of events (see _crowded).
_BYTES_PER_CONTAINER = 16
# More colons than this per event allowed (keys, and the colons of timestamps) is not telemetry.
_KEYS_PER_EVENT = 40
# The range of a double: what JavaScript (our clients, the dashboard) reads back exactly enough, and
# what Python writes and reads as JSON without its 4,300-digit integer limit coming into play.
_LARGEST_NUMBER = sys.float_info.max
_NUMBER_RULE = "must hold only finite numbers within ±1.8e308 (NaN, Infinity and larger numbers cannot be stored)"
# Not blank, no NUL: checked by the validator's regex engine, not per event in Python.
_PRINTABLE = r"^[^\x00]*[^\s\x00][^\x00]*$"
# Keys, quotes, the signal, two UUIDs and a timestamp: the serialised event beyond its free text.
_FIXED_FIELDS_BYTES = 200
_HEX = "[0-9a-fA-F]"
# The hyphenated form, or the 32 digits alone.
_UUID_PATTERN = f"^(?:{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}|{_HEX}{{32}})$"

# UUIDs stay text from the request to the COPY (lower-cased, the form Postgres prints): a uuid.UUID
# per id would be built, hashed and formatted back to text again, a tenth of the ingest's time.
_UUID_EXAMPLE = "0b6f3c1e-2f0e-4a51-9d0c-6a3f3f2b8e11"
Uuid = Annotated[str, Field(pattern=_UUID_PATTERN, json_schema_extra={"format": "uuid"}, examples=[_UUID_EXAMPLE])]

TIMESTAMP_RULE = "must be an ISO 8601 timestamp with an offset (e.g. 2026-01-01T12:00:00Z), not a number"
# RFC 3339's shape, in ASCII digits, checked by the validator's regex engine; the calendar (no 30th of
# February) is datetime.fromisoformat's, in parse_batch. Pydantic's own datetime would take Unix seconds.
_TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})$"
)
WrittenTimestamp = Annotated[
    str,
    Field(pattern=_TIMESTAMP_PATTERN, json_schema_extra={"format": "date-time"}, examples=["2026-11-26T11:59:58.120Z"]),
]


class TelemetryEvent(BaseModel):
    """One signal as a client reports it."""

    # Unknown fields are kept aside and refused by parse_batch, which names the first few: with
    # extra="forbid" the validator would build an error for each of a hostile event's 80,000 keys.
    model_config = ConfigDict(
        extra="allow", str_strip_whitespace=False, json_schema_extra={"additionalProperties": False}
    )

    id: Uuid | None = Field(None, description="Client-chosen id; a repeated id is stored once")
    ts: WrittenTimestamp | None = Field(
        None, description="When it happened, ISO 8601 with offset; defaults to receive time"
    )
    session_id: str = Field(min_length=1, max_length=MAX_TEXT, pattern=_PRINTABLE)
    component: str = Field(min_length=1, max_length=MAX_TEXT, pattern=_PRINTABLE)
    signal: Signal
    user_id: Uuid | None = None
    data: dict[str, Any] = Field(default_factory=dict)


# JSON writes a NUL as \\u0000 and a non-finite float as NaN or Infinity; a number past ±1.8e308 has
# at least 309 digits. Text can hold these too, so a match only sends the data to the walk.
_SUSPECT = re.compile(r"\\u0000|NaN|Infinity|\d{309}")


def _may_be_unstorable(data_json: str) -> bool:
    """False when the serialised data alone shows it is storable: no NUL, no odd number, not nested too deep.

    Nesting can't exceed the number of brackets: most data is cleared by its serialised form alone,
    so the walk of _data_problem runs only for the rest.
    """
    return data_json.count("{") + data_json.count("[") > MAX_DATA_DEPTH or _SUSPECT.search(data_json) is not None


def _data_problem(data: dict[str, Any]) -> str | None:
    """Why data cannot be stored, or None."""
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
    elif isinstance(value, _Unreadable):
        raise ValueError(_NUMBER_RULE)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(_NUMBER_RULE)
    elif isinstance(value, int):
        if abs(value) > _LARGEST_NUMBER:
            raise ValueError(_NUMBER_RULE)
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError("must not contain NUL characters in keys")
            _check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, depth + 1)


def _holds_unpaired_surrogate(data: dict[str, Any]) -> bool:
    """Whether data holds half of a UTF-16 surrogate pair, which no UTF-8 text (nor jsonb) can store.

    Only events of the slow path can: the validator's own JSON parser refuses them, and so do the
    patterns of the text fields; data is free-form, so it is checked here.
    """
    try:
        to_json(data)
    except PydanticSerializationError:
        return True
    return False


class BatchError(Exception):
    """The request as a whole is unusable: its status code and a message naming the reason."""

    def __init__(self, status: int, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def _canonical(valid_uuid: str) -> str:
    """The form Postgres prints, so ids compare equal as text."""
    return valid_uuid.lower() if len(valid_uuid) == 36 else str(uuid.UUID(valid_uuid))


class SubjectError(ValueError):
    """A token's subject that cannot be the user_id of any event: its owner has no events to read."""


_UUID = re.compile(_UUID_PATTERN)


def owner_of(subject: str) -> str:
    """The user_id whose events the subject of a verified token owns: the subject itself, a UUID.

    Events carry user_id as a UUID, as ingest accepts it; a subject in another form (Auth0's
    "auth0|...", a number) matches no event, so it is refused with the reason rather than answered
    with an empty list that would hide the misconfiguration.
    """
    if not _UUID.fullmatch(subject):
        raise SubjectError(
            f"the token's subject {subject[:80]!r} is not a UUID; events carry user_id as a UUID, so only a "
            "provider whose subjects are UUIDs (Cognito, Supabase, or one mapped to them) can read its users' events"
        )
    return _canonical(subject)


class StoredEvent(NamedTuple):
    """A valid event, ready to be written: every default filled in, fields in the table's column order.

    Ids are UUIDs in lower-case text.
    """

    id: str
    ts: datetime
    user_id: str | None
    session_id: str
    component: str
    signal: str
    data_json: str


class RecordedEvent(TelemetryEvent):
    """An event as stored, read back: what the client reported, its defaults filled in, and when it arrived."""

    # Built on first use: IngestFunction imports this module and never reads events back.
    model_config = ConfigDict(defer_build=True)

    id: Uuid
    # Read back as the datetime Postgres holds; a client writes it as text (TelemetryEvent.ts).
    ts: Timestamp  # type: ignore[assignment]
    received_at: Timestamp


class Envelope(BaseModel):
    """The request body: validated whole in one pass when every event is valid (the usual case)."""

    # Ids and timestamps are new in every event: caching them as well as the keys costs more than
    # it saves (a tenth of the validation).
    model_config = ConfigDict(extra="forbid", cache_strings="keys", hide_input_in_errors=True)

    events: list[TelemetryEvent] = Field(min_length=1)


@cache
def _envelope(max_events: int) -> type[Envelope]:
    """The envelope with the count limit inside the validator: past it, no event is validated or reported."""
    return create_model(
        "Envelope", __base__=Envelope, events=(list[TelemetryEvent], Field(min_length=1, max_length=max_events))
    )


class _Unreadable:
    """A number the slow path's parser stood in for: NaN, ±Infinity, or an integer too long to convert."""

    def __init__(self, text: str) -> None:
        self.text = text


def _loads(text: str) -> Any:
    """The document, with NaN and Infinity as markers; integers too long to convert become markers too,
    on a second parse (a hook on every integer would cost a call per number of every body)."""
    try:
        return json.loads(text, parse_constant=_Unreadable)
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise
        return json.loads(text, parse_constant=_Unreadable, parse_int=_integer)


def _integer(text: str) -> int | _Unreadable:
    # Python converts at most 4,300 digits (and quadratically); anything past 309 is refused anyway.
    return int(text) if len(text) <= 310 else _Unreadable(text[:20])


@dataclass
class Batch:
    valid: list[StoredEvent] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Where each valid event stood in the request, for rejections decided after parsing.
    positions: list[int] = field(default_factory=list)

    @property
    def components(self) -> list[str]:
        """The distinct components of the valid events, in order of first appearance."""
        return list(dict.fromkeys(e.component for e in self.valid))

    def reject_components(self, refused: set[str], reason: str) -> None:
        """Moves the valid events of these components to the rejected ones, with the reason."""
        if not refused:
            return
        kept = [(i, e) for i, e in zip(self.positions, self.valid, strict=True) if e.component not in refused]
        for index, event in zip(self.positions, self.valid, strict=True):
            if event.component in refused:
                self.rejected.append({"index": index, "errors": [{"field": "component", "reason": reason}]})
        self.rejected.sort(key=lambda r: int(r["index"]))
        self.positions = [i for i, _ in kept]
        self.valid = [e for _, e in kept]


def _reason(error: Any) -> dict[str, str]:
    if error["type"] == "enum":
        return {**field_error(error, "event"), "reason": "unknown signal; known signals: " + ", ".join(KNOWN_SIGNALS)}
    if error["type"] in ("string_pattern_mismatch", "string_type") and error["loc"][-1] == "ts":
        return {**field_error(error, "event"), "reason": TIMESTAMP_RULE}
    if error["type"] in ("string_pattern_mismatch", "string_type") and error["loc"][-1] in ("id", "user_id"):
        return {**field_error(error, "event"), "reason": f"must be a UUID like {_UUID_EXAMPLE}"}
    if error["type"] == "string_pattern_mismatch":
        return {**field_error(error, "event"), "reason": "must not be blank or contain NUL characters"}
    if error["type"] == "model_type":
        return {"field": "event", "reason": "each event must be a JSON object"}
    return field_error(error, "event")


def _too_many(count: int, limits: IngestLimits) -> BatchError:
    message = f"{count} events in one request; the limit is {limits.max_events_per_request}"
    return BatchError(413, message, field="events")


def _count_of(error: ValidationError) -> int | None:
    """The number of events, when the fast path's error is that there are too many."""
    for problem in error.errors(include_url=False, include_input=False):
        if problem["type"] == "too_long" and problem["loc"] == ("events",):
            return int(problem["ctx"]["actual_length"])
    return None


def _events_of(body: bytes, limits: IngestLimits) -> list[Any]:
    """The events list of a body the fast path refused, or the reason the request is unusable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BatchError(400, f"request body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        # Numbers that cannot be stored stay in the document as markers, so their event alone is
        # rejected; Python's own parser would give NaN, or refuse the whole body for a long integer.
        document = _loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BatchError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise BatchError(400, 'request body must be a JSON object like {"events": [...]}')
    if "events" not in document:
        raise BatchError(400, "events is required", field="events")
    unexpected = sorted(set(document) - {"events"})
    if unexpected:
        raise BatchError(400, f"unexpected field(s): {', '.join(unexpected[:10])}", field=unexpected[0])
    events = document["events"]
    if not isinstance(events, list):
        raise BatchError(400, "events must be a list", field="events")
    if not events:
        raise BatchError(400, "events must not be empty", field="events")
    if len(events) > limits.max_events_per_request:
        raise _too_many(len(events), limits)
    return events


def _errors_of(error: ValidationError) -> list[dict[str, str]]:
    """An event's errors as fields and reasons (at most one more than the answer lists)."""
    return [_reason(e) for e in error.errors(include_url=False, include_input=False)[: MAX_ERRORS_PER_EVENT + 1]]


_FIELD_NAMES = frozenset(TelemetryEvent.model_fields)


def _unknown(names: list[str]) -> list[dict[str, str]]:
    shown = [{"field": name[:MAX_TEXT], "reason": "unknown field"} for name in names[:MAX_ERRORS_PER_EVENT]]
    if len(names) > MAX_ERRORS_PER_EVENT:
        shown.append({"field": "event", "reason": f"{len(names) - MAX_ERRORS_PER_EVENT} more unknown fields"})
    return shown


def _capped(errors: list[dict[str, str]]) -> list[dict[str, str]]:
    """The first MAX_ERRORS_PER_EVENT errors, and a count of the rest, so an answer stays small."""
    if len(errors) <= MAX_ERRORS_PER_EVENT:
        return errors
    return [*errors[:MAX_ERRORS_PER_EVENT], {"field": "event", "reason": "more errors not listed"}]


def _received_time(written: str) -> datetime:
    """The event's time in UTC, or where it lies off Python's calendar once moved to UTC.

    ValueError when the date or time does not exist (the 30th of February, hour 24).
    """
    ts = datetime.fromisoformat(written)
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        # Year 1 east of UTC, or 9999 west of it: before or after anything the window takes.
        return datetime.min.replace(tzinfo=UTC) if ts.year == 1 else datetime.max.replace(tzinfo=UTC)


def _crowded(body: bytes, max_events: int) -> bool:
    """Whether the body holds more objects and lists than events may, each of only a few bytes, or
    far more keys than events have.

    The validator parses a whole body before its count limit answers: for a mebibyte of empty
    objects that costs twice a valid maximal batch. Real events take tens of bytes each at least.
    Such bodies take the slow path, which counts before it validates.
    """
    containers = body.count(b"{") + body.count(b"[")
    if containers > max_events + 1 and len(body) < _BYTES_PER_CONTAINER * containers:
        return True
    # Likewise for keys: the validator builds the extras of an event of 80,000 unknown fields first.
    return body.count(b":") > _KEYS_PER_EVENT * max_events


def _validated_whole(body: bytes, limits: IngestLimits) -> list[Any]:
    """The events of the body, validated in one pass when every one is valid; else parsed for the slow path."""
    try:
        # One pass in the validator's own JSON parser; anything it refuses takes the slow path,
        # which finds the request-level problem or the rejected events one by one.
        return _envelope(limits.max_events_per_request).model_validate_json(body).events
    except ValidationError as exc:
        count = _count_of(exc)
        if count is not None:
            raise _too_many(count, limits) from None
        return _events_of(body, limits)
    except ValueError:
        # An integer past Python's conversion limit, which the validator raises as it parses.
        return _events_of(body, limits)


def parse_batch(body: bytes, limits: IngestLimits, now: datetime | None = None) -> Batch:
    """Validates a request body: raises BatchError for the request, reports bad events by index."""
    if len(body) > limits.max_request_bytes:
        raise BatchError(413, f"request body is {len(body)} bytes; the limit is {limits.max_request_bytes}")
    events: list[Any]
    if _crowded(body, limits.max_events_per_request):
        # Python's parser is the cheaper way to count a body of tiny values: counted, then validated one by one.
        events = _events_of(body, limits)
    else:
        events = _validated_whole(body, limits)
    received = now or datetime.now(UTC)
    latest = received + limits.max_future_skew
    earliest = received - limits.max_age
    batch = Batch()
    valid, rejected, positions = batch.valid, batch.rejected, batch.positions
    longest_component = limits.max_component_length
    make = StoredEvent._make
    # The loop runs for every event of every request: it keeps to cheap checks on what the
    # validator produced, and leaves the rare cases (deep or NUL-carrying data) to _data_problem.
    for index, raw in enumerate(events):
        if isinstance(raw, TelemetryEvent):
            event = raw
        else:
            if isinstance(raw, dict) and len(raw) > _MAX_EVENT_KEYS:
                reason = f"has {len(raw)} fields; an event has at most {len(TelemetryEvent.model_fields)}"
                rejected.append({"index": index, "errors": [{"field": "event", "reason": reason}]})
                continue
            try:
                event = TelemetryEvent.model_validate(raw)
            except ValidationError as exc:
                unknown = sorted(set(raw) - _FIELD_NAMES) if isinstance(raw, dict) else []
                rejected.append({"index": index, "errors": _capped([*_errors_of(exc), *_unknown(unknown)])})
                continue
            # The slow path's data may hold what the serialiser below cannot write: walk it first.
            problem = _data_problem(event.data)
            if problem is None and _holds_unpaired_surrogate(event.data):
                problem = UNPAIRED_SURROGATE
            if problem:
                rejected.append({"index": index, "errors": [{"field": "data", "reason": problem}]})
                continue
        if event.__pydantic_extra__:
            rejected.append({"index": index, "errors": _capped(_unknown(list(event.__pydantic_extra__)))})
            continue
        data_json = to_json(event.data).decode()
        if _may_be_unstorable(data_json):
            problem = _data_problem(event.data)
            if problem:
                rejected.append({"index": index, "errors": [{"field": "data", "reason": problem}]})
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
        # In UTC's own tzinfo, every later comparison and the COPY skip pydantic's offset callback.
        try:
            ts = _received_time(event.ts) if event.ts else received
        except ValueError as exc:
            rejected.append({"index": index, "errors": [{"field": "ts", "reason": f"is not a date and time: {exc}"}]})
            continue
        if ts > latest:
            reason = f"is more than {int(limits.max_future_skew.total_seconds())} s in the future"
            rejected.append({"index": index, "errors": [{"field": "ts", "reason": reason}]})
            continue
        if ts < earliest:
            reason = f"is older than the retention period ({limits.max_age.days} days)"
            rejected.append({"index": index, "errors": [{"field": "ts", "reason": reason}]})
            continue
        if len(event.component) > longest_component:
            reason = f"is longer than {longest_component} characters"
            rejected.append({"index": index, "errors": [{"field": "component", "reason": reason}]})
            continue
        user_id = event.user_id
        positions.append(index)
        valid.append(
            make(
                (
                    _canonical(event.id) if event.id else str(uuid.uuid4()),
                    ts,
                    _canonical(user_id) if user_id else None,
                    event.session_id,
                    event.component,
                    event.signal.value,
                    data_json,
                )
            )
        )
    return batch
