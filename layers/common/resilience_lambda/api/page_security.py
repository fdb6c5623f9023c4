"""The security headers of the pages the API serves: the dashboard and the API docs (Swagger UI)."""

from __future__ import annotations

import base64
import hashlib
import re

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def content_security_policy(script_src: str, style_src: str) -> str:
    """A page that talks only to its own origin: nothing from elsewhere, no framing, no forms posted away."""
    return (
        f"default-src 'none'; script-src {script_src}; style-src {style_src}; connect-src 'self'; "
        "img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def page_headers(policy: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # frame-ancestors for browsers that predate it.
        "X-Frame-Options": "DENY",
    }


def inline_sources(html: str, tag: str) -> str:
    """The CSP sources that allow exactly the inline <script> or <style> elements of html: their hashes."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for kind, body in _INLINE.findall(html)
        if kind == tag
    ]
    return " ".join(hashes) or "'none'"


def secure_docs(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """Adds the security headers to the Swagger UI page, allowing only the scripts and styles it inlines."""
    response = next_middleware(app)
    if str(response.content_type or "").startswith("text/html") and isinstance(response.body, str):
        policy = content_security_policy(
            script_src=inline_sources(response.body, "script"),
            style_src=f"'self' {inline_sources(response.body, 'style')}",
        )
        response.headers.update(page_headers(policy))
    else:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
