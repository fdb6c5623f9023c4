"""Who may report signals beyond the ingest key: pages of the allowed origins, and holders of a signed ingest token."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from http import HTTPStatus

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from resilience.ingest_tokens import TokenError, verify
from resilience.origins import origin_allowed, refusal
from resilience.settings import IngestTokenSettings, OriginPolicy, load
from resilience.telemetry import Batch
from resilience.trusted_users import vouch
from resilience_lambda.api.http import INGEST_TOKEN_HEADER, error_response
from resilience_lambda.secrets import ingest_token_secrets

# Where the middleware leaves a verified token's subject for the handler. Not the resolver's context:
# a router included by several resolvers (the function's, the local server's) reads the last one's.
_subject: ContextVar[str | None] = ContextVar("ingest_token_subject", default=None)


def _header(app: APIGatewayHttpResolver, name: str) -> str | None:
    headers = app.current_event.headers or {}
    value = headers.get(name.lower())
    return value if value is not None else headers.get(name)


def refuse_foreign_origin(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """403 for a request whose Origin is present and not in ALLOWED_ORIGINS: a beacon from another site included."""
    origin = _header(app, "Origin")
    if not origin_allowed(origin, load(OriginPolicy).origins):
        message, reason = refusal(origin)
        return error_response(HTTPStatus.FORBIDDEN, message, [{"field": "Origin", "reason": reason}])
    return next_middleware(app)


def _refused_token(reason: str) -> Response:
    return error_response(
        HTTPStatus.UNAUTHORIZED,
        f"{INGEST_TOKEN_HEADER}: {reason}",
        [{"field": INGEST_TOKEN_HEADER, "reason": reason}],
        headers={"WWW-Authenticate": f'{INGEST_TOKEN_HEADER} realm="ingest"'},
    )


def require_ingest_token(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """Verifies X-Ingest-Token when one is sent (and asks for one with INGEST_TOKEN_REQUIRED); 401 with the reason."""
    settings = load(IngestTokenSettings)
    given = (_header(app, INGEST_TOKEN_HEADER) or "").strip()
    if not given:
        if settings.ingest_token_required:
            return _refused_token("is missing; this deployment takes signals only with a signed ingest token")
        return _with_subject(None, app, next_middleware)
    if not settings.configured:
        return _refused_token("this deployment verifies no ingest tokens; send none")
    try:
        token = verify(given, ingest_token_secrets(), datetime.now(UTC), settings.max_lifetime)
    except TokenError as exc:
        return _refused_token(str(exc))
    return _with_subject(token.subject, app, next_middleware)


def _with_subject(subject: str | None, app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    # Reset after the request, so a warm container never lends one request's user to the next.
    reset = _subject.set(subject)
    try:
        return next_middleware(app)
    finally:
        _subject.reset(reset)


def vouch_for_users(batch: Batch) -> None:
    """With ingest tokens in use, user_id comes from the verified token (none without one), never from the client."""
    if load(IngestTokenSettings).configured:
        vouch(batch, _subject.get())
