"""How a pydantic validation error reads to people: the field at fault and the reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# JSON can escape half of a UTF-16 pair (\ud800 alone); Python's parser lets it through, UTF-8 can't hold it.
UNPAIRED_SURROGATE = "contains half of a UTF-16 surrogate pair (an unpaired \\ud800-\\udfff escape)"

# pydantic's wording where it says little to someone who never saw the model.
_PLAIN = {
    "string_unicode": UNPAIRED_SURROGATE,
    "extra_forbidden": "unknown field",
    "json_invalid": "is not valid JSON",
    "timezone_aware": "timestamp must include a UTC offset (e.g. 2026-01-01T12:00:00Z)",
}


# Text that Postgres can store: anything but NUL. Patterns say so to the validator and the API docs.
NO_NUL = r"^[^\x00]*$"


def reason(error: Mapping[str, Any]) -> str:
    if error["type"] == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == NO_NUL:
        return "must not contain NUL characters"
    return _PLAIN.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")


def field_error(error: Mapping[str, Any], whole: str) -> dict[str, str]:
    """{"field", "reason"} of one error; `whole` names the field when the error is about the whole input."""
    return {"field": ".".join(str(p) for p in error["loc"]) or whole, "reason": reason(error)}
