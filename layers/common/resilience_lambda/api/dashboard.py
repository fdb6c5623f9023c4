"""GET /dashboard: the admin dashboard page and its script and style sheet, served without authentication."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from resilience.rates import RATES
from resilience_lambda.api.http import ApiError
from resilience_lambda.api.page_security import content_security_policy, page_headers

router = Router()

PAGE_DIR = Path(__file__).resolve().parent.parent / "dashboard"
ASSET_TYPES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# The page's code and style come from its own files: no CDN, no inline code.
SECURITY_HEADERS = page_headers(content_security_policy(script_src="'self'", style_src="'self'"))


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str
    version: str


@cache
def asset(name: str) -> Asset:
    """A script or style sheet of the page, with a content hash that makes its URL change with it."""
    body = (PAGE_DIR / name).read_text(encoding="utf-8")
    return Asset(body, ASSET_TYPES[name], hashlib.sha256(body.encode()).hexdigest()[:16])


def rate_definitions() -> str:
    """How each rate is computed from signal counts, for the page's charts: resilience/rates.py's, as JSON."""
    definitions = [
        {
            "metric": rate.metric,
            "numerator": sorted(rate.numerator),
            "denominator": sorted(rate.denominator),
            "cap": rate.cap,
        }
        for rate in RATES
    ]
    # Inside <script>, "</" would end the element early.
    return json.dumps(definitions).replace("</", "<\\/")


@cache
def page() -> str:
    """index.html, pointing at the current version of each asset (relative URLs work under any base path)."""
    html = (PAGE_DIR / "index.html").read_text(encoding="utf-8")
    for name in ASSET_TYPES:
        html = html.replace("{{" + name + "}}", f"dashboard/{name}?v={asset(name).version}")
    return html.replace("{{rate-definitions}}", rate_definitions())


def _text(example: str) -> dict[str, Any]:
    return {"schema": {"type": "string"}, "examples": {"start": {"summary": "How it starts", "value": example}}}


PAGE_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "The page (HTML); it asks for the admin token and calls the admin API with it",
        "content": {"text/html": _text("<!doctype html>...")},  # type: ignore[dict-item]
    }
}
FILE_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "The file; cached for a year when ?v= names its current version",
        "content": {
            "text/javascript": _text("(function () { ... })();"),  # type: ignore[dict-item]
            "text/css": _text(":root { ... }"),  # type: ignore[dict-item]
        },
    },
    404: {"description": "No such file"},
}


@router.get(
    "/dashboard",
    summary="The admin dashboard",
    description=(
        "Rates with thresholds and status, hourly and daily trends, components worst first and alerts with an "
        "Acknowledge button. The page itself needs no token; it asks for the admin token, keeps it for the browser "
        "session and calls the admin API with it."
    ),
    tags=["Dashboard"],
    responses=PAGE_RESPONSES,
)
def get_dashboard() -> Response[str]:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return Response(HTTPStatus.OK, "text/html; charset=utf-8", page(), headers=headers)


@router.get(
    "/dashboard/<name>",
    summary="A script or style sheet of the dashboard",
    tags=["Dashboard"],
    responses=FILE_RESPONSES,
)
def get_dashboard_asset(
    name: Annotated[str, PathParam(description="dashboard.js or dashboard.css", examples=["dashboard.js"])],
) -> Response[str]:
    if name not in ASSET_TYPES:
        # The name is echoed cut short: a path of any length must not make an answer as long.
        shown = name if len(name) <= 100 else name[:100] + "..."
        raise ApiError(HTTPStatus.NOT_FOUND, f"no dashboard file {shown!r}; there are {', '.join(ASSET_TYPES)}", "name")
    found = asset(name)
    version = (router.current_event.query_string_parameters or {}).get("v")
    # A versioned URL never changes content, so browsers may keep it; an unversioned one is revalidated.
    cache_control = "public, max-age=31536000, immutable" if version == found.version else "no-cache"
    headers = {"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff", "ETag": f'"{found.version}"'}
    return Response(HTTPStatus.OK, found.content_type, found.body, headers=headers)
