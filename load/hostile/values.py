"""Hostile values any route's fields can be given: times at the calendar's edges, look-alike ids, raw JSON."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")


class Raw(str):
    """A fragment of JSON text written as it is: what json.dumps refuses to write (NaN, 5000-digit numbers)."""


def to_json(value: Any) -> str:
    """JSON text of value, Raw fragments verbatim; lone surrogates are written as \\ud800 escapes."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def weighted(*options: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, each chosen in proportion to its weight."""

    def pick(n: int) -> st.SearchStrategy[T]:
        for weight, strategy in options:
            if n < weight:
                return strategy
            n -= weight
        raise AssertionError("drawn past the total weight")

    return st.integers(min_value=0, max_value=sum(w for w, _ in options) - 1).flatmap(pick)


def _now_plus(delta: timedelta) -> datetime:
    return datetime.now(UTC) + delta


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# Numbers past what int(), float, jsonb or datetime take; drawn at each length so each limit is crossed.
big_digits = st.integers(min_value=19, max_value=6000).map(lambda n: "9" * n)

# The first and last instants of the calendar, seen from either side of UTC, and dates that do not exist.
EDGE_TIMESTAMPS = (
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T04:59:59+05:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T23:59:59-01:00",
    "0001-01-02T00:00:00+00:00",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T20:00:00-23:59",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T00:00:00Z",
    "9999-12-30T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-12-31T23:59:60Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00-00:00",
    "2026-01-01T00:00:00",
    "2026-01-01",
    "2026-01-01T00:00Z",
    "2026-01-01 00:00:00+00:00",
    "2026-01-01T00:00:00.1234567891Z",
    "1970-01-01T00:00:00Z",
    "\uff12\uff10\uff12\uff16-01-01T00:00:00Z",
)
NUMBER_TIMESTAMPS = ("0", "0.5", "-1", "1e308", "-1e308", "NaN", "Infinity", "-Infinity", "1764158400", "1764158400000")

_offsets = st.integers(min_value=-1439, max_value=1439)
# Any instant Python can write, at any offset a timestamp can carry.
_anywhen = st.builds(
    lambda moment, minutes: moment.isoformat() + _offset(minutes),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    _offsets,
)
# Around now, up to 15 years either way: inside, at and past every retention period.
_around_now = st.integers(min_value=-15 * 366 * 86400, max_value=15 * 366 * 86400).map(
    lambda seconds: _now_plus(timedelta(seconds=seconds)).isoformat()
)
# The calendar's first and last day as a timestamp's own offset writes them.
_near_the_ends = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 1, 23, 59, 59)),
    st.datetimes(min_value=datetime(9999, 12, 31), max_value=datetime(9999, 12, 31, 23, 59, 59)),
)


def _shifted(moment: datetime, seconds: int) -> datetime:
    """moment moved by seconds, stopping at the calendar's ends rather than overflowing."""
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.min if seconds < 0 else datetime.max.replace(microsecond=0)


# Two times a short span apart (either order) at the calendar's ends, each at its own offset: a window
# there passes every check of its length, so what converting it to UTC does is what gets tested.
edge_windows = st.builds(
    lambda moment, seconds, first, second: (
        moment.isoformat() + _offset(first),
        _shifted(moment, seconds).isoformat() + _offset(second),
    ),
    _near_the_ends,
    st.integers(min_value=-2 * 86400, max_value=2 * 86400),
    _offsets,
    _offsets,
)


# A time at one of the calendar's ends, at any offset: half of them have no UTC form in Python.
_at_the_ends = st.builds(lambda moment, minutes: moment.isoformat() + _offset(minutes), _near_the_ends, _offsets)
timestamps = st.one_of(
    st.sampled_from(EDGE_TIMESTAMPS),
    _at_the_ends,
    st.sampled_from(NUMBER_TIMESTAMPS),
    _anywhen,
    _around_now,
    big_digits,
)


def future(max_days: int = 365) -> st.SearchStrategy[str]:
    """A time after now (drawn when it is used), for the fields that must be in the future."""
    return st.integers(min_value=60, max_value=max_days * 86400).map(
        lambda seconds: _now_plus(timedelta(seconds=seconds)).isoformat()
    )


SHORT_STRINGS = (
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "%00",
    "null",
    "true",
    "[]",
    "{}",
    "'; DROP TABLE silences; --",
    "\u202e\u200b",
    "\ufeff",
    "\U0001f642",
    "<script>alert(1)</script>",
)
SURROGATES = ("\ud800", "a\udfffb", "\udc00\ud800")


def texts(*, surrogates: bool = False) -> st.SearchStrategy[str]:
    """Strings a field may be given: NUL, controls, huge; with surrogates only where JSON escapes can carry them."""
    options = [
        st.sampled_from(SHORT_STRINGS),
        st.text(max_size=40),
        st.text(max_size=10).map(lambda s: s + "\x00"),
        st.text(max_size=10).map(lambda s: "\x00" + s),
        st.integers(min_value=150, max_value=20_000).map(lambda n: "x" * n),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=8).map(lambda s: s * 300),
    ]
    if surrogates:
        options.append(st.sampled_from(SURROGATES))
    return st.one_of(options)


# Ids that only look like digits or UUIDs, and the numbers just past a bigint.
ID_LOOKALIKES = (
    "0",
    "-1",
    "+1",
    "00",
    "01",
    " 1",
    "1 ",
    "1.0",
    "1e3",
    "0x1F",
    "1_000",
    "\u00b2",
    "\u0661",
    "\uff11",
    "\u216b",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "NaN",
    "Infinity",
    "null",
    "true",
    "00000000-0000-0000-0000-000000000000",
    "%31",
    "1%00",
    "\x00",
    "1\x00",
    "1\n",
)


def ids(known: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[str]:
    """Path ids; `known` mixes in ids of rows that exist, so requests reach past the lookup."""
    options = [
        st.sampled_from(ID_LOOKALIKES),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=12),
        st.uuids().map(str),
        big_digits,
        texts(),
    ]
    if known is not None:
        options.append(known.map(str))
    # A slash would make it another path, an empty id another route.
    return st.one_of(options).filter(lambda text: text != "" and "/" not in text)


def integers_as_text(low: int, high: int) -> st.SearchStrategy[str]:
    """A bounded count as a query gives it: in range, around the bounds, and not an integer at all."""
    return st.one_of(
        st.integers(min_value=low - 2, max_value=high + 2).map(str),
        st.sampled_from(("", "1.0", "1.5", "1e3", "NaN", "inf", "-0", " 1", "\uff11", "0x10", "true", "null")),
        big_digits,
    )


def choices(valid: tuple[str, ...]) -> st.SearchStrategy[str]:
    """An enum's text: its values, their case variants, and anything else."""
    return st.one_of(
        st.sampled_from(valid),
        st.sampled_from(valid).map(str.upper),
        st.sampled_from(valid).map(lambda v: f" {v}"),
        texts(),
    )


# JSON numbers past what float and int take, and the non-finite ones Python's parser lets through.
RAW_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "-0", "1E-400", "0.1e-999999")
raw_numbers = st.one_of(st.sampled_from(RAW_NUMBERS).map(Raw), big_digits.map(Raw))


def deep() -> st.SearchStrategy[Raw]:
    """Arrays or objects nested up to 100,000 deep, as raw JSON."""
    depth = st.integers(min_value=2, max_value=100_000)
    arrays = depth.map(lambda d: Raw("[" * d + "]" * d))
    objects = depth.map(lambda d: Raw('{"a":' * d + "1" + "}" * d))
    return st.one_of(arrays, objects)


def wrong_types(text: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Any]:
    """JSON of every type but the one a field wants: numbers, booleans, null, lists, objects, deep nesting."""
    leaf = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        raw_numbers,
        text or texts(surrogates=True),
    )
    nested = st.recursive(
        leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    )
    return st.one_of(leaf, nested, deep())


def body_times() -> st.SearchStrategy[Any]:
    """Times as a body gives them, weighted to the calendar's ends, where conversions to UTC overflow."""
    return weighted((3, _at_the_ends), (1, st.sampled_from(EDGE_TIMESTAMPS)), (1, timestamps), (1, wrong_types()))


@st.composite
def one_hostile(
    draw: st.DrawFn, valid: dict[str, st.SearchStrategy[Any]], hostile: dict[str, st.SearchStrategy[Any]]
) -> dict[str, Any]:
    """Every field valid but one, which is hostile or missing: what one field's check does is reached, not
    masked by another's. valid names the fields to send; hostile, every field that may be tried."""
    fields = {name: draw(strategy) for name, strategy in valid.items()}
    name = draw(st.sampled_from(sorted(hostile)))
    if draw(st.integers(min_value=0, max_value=4)):
        fields[name] = draw(hostile[name])
    else:
        fields.pop(name, None)
    return fields


def json_field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A body field's value: often valid, so other fields' checks are reached; otherwise any hostile JSON."""
    return st.one_of(valid, valid, texts(surrogates=True), wrong_types())


# Text a JSON parser refuses, or takes in a way a model does not expect.
MALFORMED_BODIES = (
    "",
    "{",
    "}",
    "nul",
    '{"by": "x"',
    '{"by": "x",}',
    "{'by': 'x'}",
    '\ufeff{"by": "x"}',
    '{"by": "x"}{"by": "y"}',
    '{"by": "\\ud800"}',
    '{"by": "\\u0000"}',
    '{"a": 1, "a": 2}',
    "\x00",
)


def bodies(shape: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[str]:
    """A JSON body as sent: an object of `shape`, with unknown fields now and then, or any other JSON text."""
    extra = st.dictionaries(st.text(max_size=10), wrong_types(), max_size=2)
    objects = st.builds(lambda fields, more: {**fields, **more}, shape, st.one_of(st.just({}), extra))
    # Mostly objects: what the model's checks do with hostile fields is where a server error hides.
    return weighted(
        (8, objects.map(to_json)),
        (1, st.sampled_from(MALFORMED_BODIES)),
        (1, wrong_types().map(to_json)),
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forged_cursors(encode: Callable[[Any], str] = lambda value: b64(to_json(value).encode())) -> st.SearchStrategy[str]:
    """Paging cursors no server handed out: the right shape with hostile parts, other shapes, other bytes."""
    moments = st.one_of(timestamps, _around_now, wrong_types())
    keys = weighted((1, st.uuids().map(str)), (1, st.sampled_from(ID_LOOKALIKES)), (2, wrong_types()))
    shaped = weighted((3, st.tuples(moments, keys).map(list)), (1, st.lists(moments, max_size=4)), (1, wrong_types()))
    return weighted(
        (6, shaped.map(encode)),
        (1, st.binary(max_size=300).map(b64)),
        (1, st.binary(max_size=300).map(lambda data: base64.b64encode(data).decode())),
        (1, texts()),
    )
