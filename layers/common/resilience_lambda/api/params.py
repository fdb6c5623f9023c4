"""Query parameters the admin routes share, and the raw-data window they resolve to."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BeforeValidator

from resilience.settings import RawRetention, load
from resilience.validation import NO_NUL
from resilience.windows import CALENDAR, Window, resolve_window

# A date and a time at least: pydantic alone would also take a number of seconds since 1970 ("0.5").
_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_8601(value: object) -> object:
    if isinstance(value, str) and not _ISO_8601.match(value):
        raise ValueError("must be an ISO 8601 timestamp with an offset, like 2026-11-26T12:00:00Z")
    return value


IsoTimestamp = BeforeValidator(_iso_8601)
FromParam = Annotated[
    datetime | None,
    IsoTimestamp,
    Query(alias="from", description=f"ISO 8601 with offset, {CALENDAR}; before to; default 24 h before to"),
]
ToParam = Annotated[
    datetime | None, IsoTimestamp, Query(alias="to", description=f"ISO 8601 with offset, {CALENDAR}; default now")
]
# Postgres text holds no NUL character: a filter carrying one matches nothing and is refused up front.
ComponentParam = Annotated[
    str | None, Query(min_length=1, max_length=200, pattern=NO_NUL, description="Only this component")
]


def raw_window(start: datetime | None, end: datetime | None) -> Window:
    """The window of a query over raw events: no longer than they are kept."""
    return resolve_window(start, end, max_span=load(RawRetention).max_age)
