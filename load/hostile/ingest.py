"""Hostile bodies for POST /v1/telemetry, and the invariant every answer to them must keep.

The classes are those where the JSON parser, pydantic, Python's datetime and Postgres disagree: numbers
JSON allows and jsonb refuses, timestamps that leave the calendar once moved to UTC, text UTF-8 cannot
hold, ids that only look like UUIDs, envelopes that cost work before their limits. Each event carries a
tag (its session, or its id when the session is the hostile field), so an answer can be checked event
by event: stored exactly once, or rejected, never both and never neither.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from hypothesis import strategies as st

from resilience.signals import Signal

SIGNALS = tuple(signal.value for signal in Signal)
# A few components, so the registry's limit is not what a run measures (one class invents names).
COMPONENTS = ("CheckoutForm", "SearchBox", "ProfileCard")


@dataclass(frozen=True)
class Raw:
    """A JSON token written as it is: NaN, 1e400, a 5,000-digit integer, an unpaired surrogate escape."""

    text: str


def dumps(value: Any) -> str:
    """JSON text of value, with Raw tokens written verbatim (no encoder writes them on purpose)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


@dataclass
class HostileBatch:
    """A request body and, per event, the tag that finds it stored (None: the event is no object to tag)."""

    body: bytes
    tags: list[str | None] = field(default_factory=list)
    # Which field of each event is hostile (or "none", "event"), for reports.
    classes: list[str] = field(default_factory=list)
    envelope: str | None = None

    @property
    def size(self) -> int:
        return len(self.tags)


# --- values ------------------------------------------------------------------------------------

_OFFSETS = st.builds(
    lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
    st.sampled_from("+-"),
    st.integers(0, 23),
    st.integers(0, 59),
)


def _iso(moment: datetime, offset: str) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + offset


def timestamps() -> st.SearchStrategy[Any]:
    """Valid and hostile timestamps: the calendar's edges with offsets, numbers, near misses of ISO 8601."""
    now = datetime.now(UTC).replace(microsecond=0)
    edges = st.builds(
        _iso,
        st.sampled_from(
            [datetime(1, 1, 1), datetime(1, 1, 1, 23, 59), datetime(9999, 12, 31, 23, 59, 59), datetime(9999, 12, 31)]
        ),
        st.one_of(_OFFSETS, st.just("Z")),
    )
    recent = st.builds(
        lambda seconds, offset: _iso(now - timedelta(seconds=seconds), offset),
        st.integers(-600, 200 * 86400),
        st.one_of(_OFFSETS, st.just("Z")),
    )
    numbers = st.one_of(
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False),
        st.sampled_from([Raw("NaN"), Raw("Infinity"), Raw("1e400"), Raw("9" * 5000)]),
        st.integers(0, 2**40).map(str),
        st.floats(0, 2e9).map(str),
    )
    near_misses = st.sampled_from(
        [
            "2026-02-30T00:00:00Z",
            "2026-12-07T24:00:00Z",
            "2026-12-07T23:59:60Z",
            "2026-12-07",
            "2026-12-07T12:00:00",
            "2026-12-07t12:00:00z",
            "2026-12-07 12:00:00+00:00",
            "0000-01-01T00:00:00Z",
            "+002026-12-07T00:00:00Z",
            "2026-12-07T12:00:00+24:00",
            "2026-12-07T12:00:00.123456789012Z",
            "2026-W49-1T12:00:00Z",
            "",
            " ",
            "\u0000",
            "now",
        ]
    )
    return st.one_of(edges, recent, numbers, near_misses, st.none(), st.booleans(), st.lists(st.integers(), max_size=2))


def texts() -> st.SearchStrategy[Any]:
    """Session ids and component names: blanks, NUL, unpaired surrogates, the length limits, wrong types."""
    return st.one_of(
        st.text(min_size=0, max_size=40),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20),
        st.sampled_from(["", " ", "\t\n", "a\u0000b", "\u0000", "\u200b", "\u202e" + "x", "😀" * 60]),
        st.sampled_from([Raw('"\\ud800"'), Raw('"a\\udfffb"'), Raw('"\\u0000"')]),
        st.integers(99, 202).map(lambda n: "x" * n),
        st.just("y" * 10_000),
        st.one_of(st.integers(), st.none(), st.booleans(), st.lists(st.text(max_size=3), max_size=2)),
    )


_OTHER_DIGITS = [str.maketrans("0123456789", "".join(chr(first + d) for d in range(10))) for first in (0xFF10, 0x0660)]


def uuid_lookalikes() -> st.SearchStrategy[Any]:
    """Ids that only look like UUIDs: other digits, other lengths, wrappers, other types.

    The real ones are fresh, not drawn: an id repeated across examples would be a (correct) duplicate.
    """
    real = st.builds(uuid.uuid4).map(str)
    return st.one_of(
        real,
        real.map(str.upper),
        real.map(lambda u: u.replace("-", "")),
        real.map(lambda u: "{" + u + "}"),
        real.map(lambda u: "urn:uuid:" + u),
        real.map(lambda u: u[:-1]),
        real.map(lambda u: u + "0"),
        # Digits of other scripts, which Python's int() and str.isdigit() take: fullwidth, Arabic-Indic.
        real.map(lambda u: u.translate(_OTHER_DIGITS[0])),
        real.map(lambda u: u.translate(_OTHER_DIGITS[1])),
        real.map(lambda u: " " + u),
        st.integers(0, 10**40),
        st.sampled_from([Raw("1" * 5000), None, True, [], {}]),
    )


def _nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def data_values() -> st.SearchStrategy[Any]:
    """What data may hold, and what Postgres's jsonb or Python's JSON cannot: non-finite and huge numbers,
    NUL and surrogates in keys and values, deep nesting, a non-object, size past the event limit."""
    numbers = st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(-(2**64), 2**64),
        st.sampled_from(
            [Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e400"), Raw("-1e400"), Raw("1e-400"), Raw("-0")]
        ),
        st.integers(300, 6000).map(lambda n: Raw("7" * n)),
        st.integers(300, 320).map(lambda n: Raw("1" + "0" * n)),
    )
    strings = st.one_of(
        st.text(max_size=30),
        st.sampled_from(["\u0000", "a\u0000", Raw('"\\ud83d"'), Raw('"\\udc00x"')]),
        st.just("z" * 40_000),
    )
    leaves = st.one_of(numbers, strings, st.booleans(), st.none())
    objects = st.dictionaries(
        st.one_of(st.text(max_size=8), st.sampled_from(["\u0000", "k\u0000"])), leaves, max_size=4
    )
    return st.one_of(
        objects,
        st.integers(1, 14).map(lambda d: {"deep": _nested(d)}),
        st.integers(200, 5000).map(lambda n: {f"k{i}": i for i in range(n)}),
        st.one_of(st.lists(leaves, max_size=3), st.text(max_size=5), st.integers(), st.none()),
        st.sampled_from([Raw('{"a":NaN}'), Raw('{"a":[Infinity]}'), Raw('{"\\ud800":1}')]),
    )


# --- events and bodies -------------------------------------------------------------------------

_FIELDS = {
    "id": uuid_lookalikes,
    "ts": timestamps,
    "session_id": texts,
    "component": texts,
    "signal": lambda: st.one_of(st.sampled_from(SIGNALS), st.sampled_from([s.upper() for s in SIGNALS]), texts()),
    "user_id": uuid_lookalikes,
    "data": data_values,
}


@st.composite
def events(draw: st.DrawFn) -> tuple[Any, str | None, str]:
    """One event with at most one hostile field: (the event, its tag, the hostile field's name)."""
    # Fresh tags, not drawn: an example replayed (while shrinking, say) must not meet its own earlier copy.
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "session_id": new_tag(),
        "component": draw(st.sampled_from(COMPONENTS)),
        "signal": draw(st.sampled_from(SIGNALS)),
    }
    kind = draw(st.sampled_from(["none", *_FIELDS, "unknown_field", "many_fields", "not_an_object"]))
    if kind == "not_an_object":
        other = st.one_of(st.integers(), st.text(max_size=4), st.none(), st.lists(st.none(), max_size=2))
        return draw(other), None, kind
    if kind == "unknown_field":
        event[draw(st.sampled_from(["extra", "ID", "Signal", "__proto__", "\u0000"]))] = 1
    elif kind == "many_fields":
        event.update({f"f{i}": i for i in range(draw(st.integers(10, 3000)))})
    elif kind != "none":
        value = draw(_FIELDS[kind]())
        if value is None and kind in ("id", "ts", "user_id", "data") and draw(st.booleans()):
            event.pop(kind, None)
        else:
            event[kind] = value
    tag = event["id"] if kind == "session_id" else event["session_id"]
    return event, tag if isinstance(tag, str) else None, kind


@st.composite
def batches(draw: st.DrawFn) -> HostileBatch:
    """A body of a few events, each with at most one hostile field."""
    drawn = draw(st.lists(events(), min_size=1, max_size=6))
    body = dumps({"events": [event for event, _, _ in drawn]}).encode("utf-8", "surrogatepass")
    return HostileBatch(body, [tag for _, tag, _ in drawn], [kind for _, _, kind in drawn])


@cache
def envelope_bodies(max_events: int) -> list[tuple[str, bytes]]:
    """Bodies whose problem, if any, is the request as a whole: (class, body)."""
    one = dumps({"session_id": "s", "component": "CheckoutForm", "signal": "retry_success"})
    mib = 1024 * 1024
    return [
        ("not_json", b"{events: []}"),
        ("invalid_utf8", b'{"events": [{"session_id": "\xff\xfe"}]}'),
        ("top_level_array", b"[]"),
        ("top_level_number", b"1e400"),
        ("top_level_nan", b"NaN"),
        ("null", b"null"),
        ("empty", b""),
        ("no_events", b'{"evts": []}'),
        ("events_not_a_list", b'{"events": {"0": {}}}'),
        ("events_empty", b'{"events": []}'),
        ("extra_key", ('{"events": [' + one + '], "more": 1}').encode()),
        ("too_many_events", ('{"events": [' + ",".join([one] * (max_events + 1)) + "]}").encode()),
        ("a_mebibyte_of_empty_objects", b'{"events": [' + b",".join([b"{}"] * (mib // 3 - 10)) + b"]}"),
        ("a_mebibyte_of_numbers", b'{"events": [' + b",".join([b"1"] * (mib // 2 - 10)) + b"]}"),
        ("deep_nesting", b'{"events": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"),
        ("over_a_mebibyte", b'{"events": [' + b" " * (mib + 1) + b"]}"),
        ("duplicate_events_key", ('{"events": [], "events": [' + one + "]}").encode()),
        ("huge_integer_envelope", ('{"events": ' + "9" * 6000 + "}").encode()),
    ]


@st.composite
def envelopes(draw: st.DrawFn, max_events: int = 500) -> HostileBatch:
    """A body whose problem, if any, is the request as a whole."""
    name, body = draw(st.sampled_from(envelope_bodies(max_events)))
    return HostileBatch(body, envelope=name)


def requests(max_events: int = 500) -> st.SearchStrategy[HostileBatch]:
    """Bodies for POST /v1/telemetry, mostly events with one hostile field, some hostile envelopes."""
    return st.one_of(batches(), batches(), batches(), envelopes(max_events))


# --- the invariant -----------------------------------------------------------------------------


def violations(batch: HostileBatch, status: int, answer: Any, stored: Mapping[str, int]) -> list[str]:
    """What an answer to batch, and what was stored (tag -> rows), break of the ingest's promises.

    No 5xx; a request-level refusal stores nothing; every rejection names a field and a reason; and
    each tagged event is stored exactly once when the answer took it, and not at all when it rejected it.
    """
    found: list[str] = []
    if status >= 500:
        return [f"answered {status}: {str(answer)[:300]}"]
    if status not in (200, 202):
        for sent in batch.tags:
            if sent is not None and stored.get(sent):
                found.append(f"answered {status}, yet event {sent} was stored")
        if status == 422 and isinstance(answer, dict) and "rejected" in answer:
            rejected = {r["index"] for r in answer["rejected"]}
            if rejected != set(range(batch.size)):
                found.append(f"422 rejects {sorted(rejected)} of {batch.size} events")
        return found
    rejected_at = {r["index"]: r for r in answer.get("rejected", [])}
    for r in rejected_at.values():
        for error in r.get("errors", []):
            if not (isinstance(error.get("field"), str) and error.get("field") and error.get("reason")):
                found.append(f"event {r['index']}: a rejection without field and reason: {error}")
    for index, tag in enumerate(batch.tags):
        if tag is None:
            continue
        rows = stored.get(tag, 0)
        if index in rejected_at and rows:
            found.append(f"event {index} ({batch.classes[index]}) was rejected and stored")
        if index not in rejected_at and rows != 1:
            found.append(f"event {index} ({batch.classes[index]}) was taken and stored {rows} times")
    return found


def tags_of(batches_sent: Iterable[HostileBatch]) -> list[str]:
    return [t for b in batches_sent for t in b.tags if t is not None]


# Rows per tag, among stored events and (queued) those held by the component limit: a tag is a
# session id, or an event id when the session was the hostile field.
STORED_SQL = """
SELECT tag, count(*) FROM (
    SELECT session_id AS tag FROM resilience_metrics WHERE session_id = ANY(%(tags)s)
    UNION ALL SELECT id::text FROM resilience_metrics WHERE id::text = ANY(%(tags)s)
    UNION ALL SELECT session_id FROM resilience_held_events WHERE session_id = ANY(%(tags)s)
    UNION ALL SELECT id::text FROM resilience_held_events WHERE id::text = ANY(%(tags)s)
) found GROUP BY tag
"""


def new_tag() -> str:
    return "h-" + str(uuid.uuid4())
