"""What routes read from a request by hand: a JSON body as a model, a row id from the path."""

from __future__ import annotations

from http import HTTPStatus
from typing import TypeVar

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ValidationError

from resilience.validation import field_error
from resilience_lambda.api.http import ApiError, error_response

# Postgres bigint: a larger id cannot exist, and must not reach a query as an overflow error.
MAX_ID = 2**63 - 1

M = TypeVar("M", bound=BaseModel)


def path_id(text: str, noun: str) -> int:
    """A row id from the path, or 404 naming it: anything but a positive bigint in ASCII digits names no row."""
    # str.isdigit() also takes digits int() refuses (superscripts: "²") and others it reads (Arabic-Indic: "٣").
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no {noun} {text}", "id")
    return int(text)


def parse_body(model: type[M], raw: bytes, shape: str) -> M | Response:
    """A JSON body as `model`, or a 400 naming each field at fault (a non-object body is told the `shape` it needs)."""
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        errors = [
            {"field": "body", "reason": f"must be a JSON object like {shape}"}
            if error["type"] == "model_type" and not error["loc"]
            else field_error(error, "body")
            for error in exc.errors()
        ]
        message = "invalid request: " + "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return error_response(HTTPStatus.BAD_REQUEST, message, errors)
