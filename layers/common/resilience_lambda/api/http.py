"""What every HTTP function shares: the resolver, error answers, and who the caller is (admin or signed-in user)."""

from __future__ import annotations

import base64
import hmac
import inspect
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from resilience.settings import IngestAccess, UserTokens, load
from resilience.store.database import DatabaseUnavailable
from resilience.store.telemetry import CursorError
from resilience.validation import reason
from resilience.windows import WindowError
from resilience_lambda.observability import logger
from resilience_lambda.secrets import admin_tokens

if TYPE_CHECKING:  # the data classes package imports every event's class
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

ADMIN_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
# Routes of signed-in users: a JWT of the configured issuer (the template's UserJwt authorizer).
USER_SECURITY: list[dict[str, list[str]]] = [{"userJwt": []}]
INGEST_KEY_HEADER = "X-Ingest-Key"
INGEST_TOKEN_HEADER = "X-Ingest-Token"  # noqa: S105 - a header's name
# Optional: only a deployment with INGEST_KEYS set asks for the key, and with INGEST_TOKEN_REQUIRED for a token.
INGEST_SECURITY: list[dict[str, list[str]]] = [
    {},
    {"ingestKey": []},
    {"ingestToken": []},
    {"ingestKey": [], "ingestToken": []},
]
# How long a client should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    """An answer other than success, with the field it concerns."""

    def __init__(
        self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers


def error_response(
    status: int, message: str, errors: Sequence[dict[str, str]] = (), headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = list(errors)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _header(app: APIGatewayHttpResolver, name: str) -> str:
    headers = app.current_event.headers
    return headers.get(name.lower()) or headers.get(name) or ""


def _one_of(given: str, valid: Sequence[str]) -> bool:
    """Whether given is one of the valid values, compared in constant time (every value is compared)."""
    matched = False
    for value in valid:
        matched |= hmac.compare_digest(given.encode(), value.encode())
    return matched and bool(given)


def _field_of(loc: Sequence[Any]) -> str:
    # Powertools prefixes the source ("query", "path", "body"); users know the parameter name.
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "body", "header"):
        parts = parts[1:]
    return ".".join(parts) or "request"


def require_admin(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """Lets a request through only with `Authorization: Bearer <admin token>` (either token during a rotation)."""
    scheme, _, given = _header(app, "Authorization").partition(" ")
    if scheme.lower() != "bearer" or not _one_of(given.strip(), admin_tokens()):
        return error_response(
            HTTPStatus.UNAUTHORIZED,
            "a valid admin token is required: Authorization: Bearer <token>",
            [{"field": "Authorization", "reason": "missing, or not a valid admin token"}],
            headers={"WWW-Authenticate": "Bearer"},
        )
    return next_middleware(app)


def require_ingest_key(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """With INGEST_KEYS set, lets a request through only with `X-Ingest-Key: <one of them>`."""
    keys = load(IngestAccess).keys
    if keys and not _one_of(_header(app, INGEST_KEY_HEADER).strip(), keys):
        return error_response(
            HTTPStatus.UNAUTHORIZED,
            f"a valid ingest key is required: {INGEST_KEY_HEADER}: <key>",
            [{"field": INGEST_KEY_HEADER, "reason": "missing, or not one of this deployment's ingest keys"}],
        )
    return next_middleware(app)


def _unauthorized(message: str, field: str | None = None) -> ApiError:
    """A 401 that asks for a bearer token (RFC 6750), as the JWT authorizer's own refusals do."""
    return ApiError(HTTPStatus.UNAUTHORIZED, message, field, headers={"WWW-Authenticate": "Bearer"})


def token_subject(app: APIGatewayHttpResolver | Router) -> str:
    """The subject of the caller's JWT, as the HTTP API's JWT authorizer verified it.

    The function never reads the token itself: API Gateway (locally, the runner) checked its
    signature, issuer, audience and lifetime, and passes the claims in the request context. An
    Authorization header that reached here without them (an admin token, say) proves nothing.
    """
    issuer = load(UserTokens).jwt_issuer
    if not issuer:
        raise _unauthorized("users cannot read their own events: no JWT issuer is configured")
    claims = cast("APIGatewayProxyEventV2", app.current_event).request_context.authorizer.jwt_claim
    if not claims:
        raise _unauthorized("a valid JWT of the configured issuer is required: Bearer <JWT>")
    # A second authorizer on the route, or a stage wired to another API, must not pass for this one.
    if claims.get("iss") != issuer:
        raise _unauthorized("the token was not issued by the configured issuer", "iss")
    subject = claims.get("sub")
    if not subject:
        raise _unauthorized("the token names no subject", "sub")
    return str(subject)


class AdminRouter(Router):
    """A router whose every route needs the admin token, and says so in the OpenAPI document.

    Router.use() would not do: include_router() makes a router's middlewares global to the app.
    """

    _route_signature = inspect.signature(Router.route)

    def route(self, *args: Any, **kwargs: Any) -> Any:
        bound = self._route_signature.bind(self, *args, **kwargs)
        bound.arguments["middlewares"] = [require_admin, *(bound.arguments.get("middlewares") or [])]
        if not bound.arguments.get("security"):
            bound.arguments["security"] = ADMIN_SECURITY
        return super().route(*bound.args[1:], **bound.kwargs)


def admin_router() -> Router:
    return AdminRouter()


def raw_body(app: APIGatewayHttpResolver | Router) -> bytes:
    """The request body as bytes, whether API Gateway sent it as text or base64."""
    event = app.current_event.raw_event
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else bytes(body)


DOCS_PATH = "/docs"


def build_resolver(routers: Sequence[Router], *, docs: bool = False, validation: bool = True) -> APIGatewayHttpResolver:
    """The resolver of an HTTP function: its routes, the error answers, and optionally the docs.

    Validation and the documentation pull in Powertools' OpenAPI models, a large share of a cold
    start: a function whose routes parse their input by hand (ingest) does without both.
    """
    if docs:
        from resilience_lambda.api.openapi import DocumentedResolver

        documented = DocumentedResolver(enable_validation=validation)
        documented.docs_on_first_request(DOCS_PATH, _enable_docs)
        app: APIGatewayHttpResolver = documented
    else:
        app = APIGatewayHttpResolver(enable_validation=validation)
    for router in routers:
        app.include_router(router)

    if validation:
        from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

        @app.exception_handler(RequestValidationError)
        def _invalid_request(exc: RequestValidationError) -> Response:
            errors = [{"field": _field_of(e.get("loc", ())), "reason": reason(e)} for e in exc.errors()]
            return error_response(
                HTTPStatus.BAD_REQUEST,
                "invalid request: " + "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
                errors,
            )

    @app.exception_handler(WindowError)
    def _bad_window(exc: WindowError) -> Response:
        return error_response(HTTPStatus.BAD_REQUEST, str(exc), [{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(CursorError)
    def _bad_cursor(exc: CursorError) -> Response:
        return error_response(HTTPStatus.BAD_REQUEST, f"cursor: {exc}", [{"field": "cursor", "reason": str(exc)}])

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        errors = [{"field": exc.field, "reason": exc.message}] if exc.field else []
        return error_response(exc.status, exc.message, errors, exc.headers)

    @app.exception_handler(DatabaseUnavailable)
    def _database_down(exc: DatabaseUnavailable) -> Response:
        logger.error("database unavailable", extra={"error": str(exc)})
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "the database is unavailable; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        event = app.current_event
        # API Gateway routed the request here, yet no route takes a path parameter of these characters
        # ("#", a tab): no row or file has such a name, and the answer says which parameter it was.
        names = event.raw_event.get("pathParameters") or {}
        errors = [{"field": name, "reason": "names nothing: no route takes these characters"} for name in names]
        return error_response(HTTPStatus.NOT_FOUND, f"no route {event.http_method} {event.path}", errors)

    return app


def security_schemes() -> dict[str, Any]:
    """The OpenAPI security schemes the routes name: the admin token, ingest keys and tokens, signed-in users' JWTs."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

    return {
        "bearerAuth": HTTPBearer(description="The admin token"),
        "userJwt": HTTPBearer(
            bearerFormat="JWT",
            description="A JWT of the identity provider the API trusts (JwtIssuer); its sub is your user_id",
        ),
        "ingestKey": APIKey.model_validate(
            {
                "name": INGEST_KEY_HEADER,
                "in": APIKeyIn.header,
                "description": "A publishable ingest key; required only when the deployment sets INGEST_KEYS",
            }
        ),
        "ingestToken": APIKey.model_validate(
            {
                "name": INGEST_TOKEN_HEADER,
                "in": APIKeyIn.header,
                "description": (
                    "A short-lived token your backend signs (docs/SECURITY.md); its subject becomes the events' "
                    "user_id. Verified when sent, required when the deployment sets INGEST_TOKEN_REQUIRED"
                ),
            }
        ),
    }


def _enable_docs(app: APIGatewayHttpResolver) -> None:
    from resilience_lambda.api.page_security import secure_docs

    app.enable_swagger(
        path=DOCS_PATH,
        title="Resilience Telemetry API",
        version="1.0.0",
        description="Report resilience signals; read health rates, history, components and alerts.",
        middlewares=[secure_docs],
        security_schemes=security_schemes(),
    )
