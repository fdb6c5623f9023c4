"""How a pydantic validation error reads to people: the field at fault and the reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# pydantic's wording where it says little to someone who never saw the model.
_PLAIN = {
    "extra_forbidden": "unknown field",
    "json_invalid": "is not valid JSON",
    "timezone_aware": "timestamp must include a UTC offset (e.g. 2026-01-01T12:00:00Z)",
}


def reason(error: Mapping[str, Any]) -> str:
    return _PLAIN.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")


def field_error(error: Mapping[str, Any], whole: str) -> dict[str, str]:
    """{"field", "reason"} of one error; `whole` names the field when the error is about the whole input."""
    return {"field": ".".join(str(p) for p in error["loc"]) or whole, "reason": reason(error)}
