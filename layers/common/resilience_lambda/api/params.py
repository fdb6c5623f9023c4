"""Query parameters the admin routes share, and the raw-data window they resolve to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from resilience.settings import RawRetention, load
from resilience.windows import Window, resolve_window

FromParam = Annotated[datetime | None, Query(alias="from", description="ISO 8601 with offset; default 24 h before to")]
ToParam = Annotated[datetime | None, Query(alias="to", description="ISO 8601 with offset; default now")]
ComponentParam = Annotated[str | None, Query(min_length=1, max_length=200, description="Only this component")]


def raw_window(start: datetime | None, end: datetime | None) -> Window:
    """The window of a query over raw events: no longer than they are kept."""
    return resolve_window(start, end, max_span=load(RawRetention).max_age)
