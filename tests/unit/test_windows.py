"""Query windows: the one rule for times at the calendar's ends, and what a cursor or path id may be."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from load.hostile.values import b64
from resilience.store.telemetry import CursorError, decode_cursor, encode_cursor
from resilience.windows import OUT_OF_RANGE, WindowError, resolve_window
from resilience_lambda.api.http import ApiError
from resilience_lambda.api.inputs import path_id

SPAN = timedelta(days=30)


@pytest.mark.parametrize(
    ("field", "start", "end"),
    [
        ("to", None, "0001-01-01T00:00:00+05:00"),
        ("from", "0001-01-01T00:00:00+05:00", "0001-01-01T12:00:00+05:00"),
        ("to", "9999-12-30T20:00:00-03:00", "9999-12-31T23:59:59-05:00"),
        ("from", "9999-12-31T00:00:00Z", "9999-12-31T01:00:00Z"),
    ],
)
def test_a_time_without_a_utc_form_is_refused_naming_the_parameter(field: str, start: str | None, end: str) -> None:
    with pytest.raises(WindowError) as refused:
        resolve_window(datetime.fromisoformat(start) if start else None, datetime.fromisoformat(end), max_span=SPAN)
    assert (refused.value.field, refused.value.reason) == (field, OUT_OF_RANGE)


def test_the_calendars_bounds_themselves_make_a_window_in_utc() -> None:
    window = resolve_window(None, datetime(1, 1, 2, tzinfo=UTC), max_span=SPAN)
    assert (window.start, window.end) == (datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC))


@pytest.mark.parametrize("pair", [["2026-01-01T00:00:00Z", 5], [True, "00000000-0000-0000-0000-000000000001"],
                                  ["2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000001"]])  # fmt: skip
def test_a_cursor_holding_anything_but_what_encode_cursor_writes_is_refused(pair: list[object]) -> None:
    with pytest.raises(CursorError):
        decode_cursor(b64(json.dumps(pair).encode()))


@pytest.mark.parametrize("depth", [30, 100_000])
def test_a_cursor_of_deeply_nested_json_is_refused_not_an_error(depth: int) -> None:
    # The admin generators found this: json.loads recurses, and a long cursor is never one this API wrote.
    with pytest.raises(CursorError):
        decode_cursor(b64(("[" * depth + "]" * depth).encode()))


def test_a_cursor_this_api_wrote_reads_back() -> None:
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, "00000000-0000-0000-0000-000000000001"))[0] == at


@pytest.mark.parametrize("text", ["\u00b2", "\u0661", "\uff11", "0", "9223372036854775808"])
def test_a_path_id_is_a_positive_bigint_in_ascii_digits(text: str) -> None:
    with pytest.raises(ApiError) as refused:
        path_id(text, "alert")
    assert (refused.value.status, refused.value.field) == (404, "id")
    assert path_id("42", "alert") == 42
