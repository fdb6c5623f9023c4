"""Which browser origins may report signals: the CORS list, enforced on the request rather than only advertised."""

from __future__ import annotations

from collections.abc import Sequence

ANY = "*"
# API Gateway's CORS also takes these: any origin of that scheme.
SCHEME_WILDCARDS = ("https://*", "http://*")


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """Whether a request with that Origin header (None: none sent) may report signals.

    No Origin means no browser page of another site sent it (servers and apps send none, and a
    header they could forge proves nothing either way); an empty list or * allows every origin,
    and https://* (http://*) every origin of that scheme, as in API Gateway's CORS configuration.
    """
    if origin is None or not allowed or ANY in allowed:
        return True
    schemes = tuple(entry.removesuffix("*") for entry in allowed if entry in SCHEME_WILDCARDS)
    return origin in allowed or (bool(schemes) and origin.startswith(schemes))


def refusal(origin: str | None) -> tuple[str, str]:
    """The message and the reason that refuse a request from that origin, naming it (bounded in length)."""
    shown = repr((origin or "")[:200])
    return (
        f"Origin {shown} may not report signals to this deployment",
        f"{shown} is not one of the allowed origins (ALLOWED_ORIGINS)",
    )
