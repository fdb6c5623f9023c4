"""Timestamps as answers and notifications write them: ISO 8601 with the offset, as datetime.isoformat does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-11-26T11:59:58.120000+00:00"]}),
]
