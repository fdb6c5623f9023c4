"""An ASGI app that does what API Gateway does: routes requests to the functions of template.yaml."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local import functions, triggers
from local.authorizer import JwtAuthorizer, Refused, request_claims
from local.containers import Invoker
from local.template import Route, Template, parameter_values
from resilience.origins import origin_allowed, refusal

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# The HttpApi's CorsConfiguration in template.yaml; its AllowOrigins is the AllowedOrigins parameter.
PREFLIGHT_HEADERS = {
    "access-control-allow-methods": "GET,POST,DELETE,OPTIONS",
    "access-control-allow-headers": "authorization,content-type,x-ingest-key,x-ingest-token",
    "access-control-max-age": "600",
}
# Scripts of other origins may read only the headers exposed (clients honour Retry-After).
EXPOSED_HEADERS = {"access-control-expose-headers": "retry-after"}


def cors_headers(allowed: Sequence[str], origin: str | None) -> dict[str, str]:
    """What API Gateway adds for a request from that origin: * allows any; a listed origin is echoed."""
    if "*" in allowed:
        return {"access-control-allow-origin": "*", **EXPOSED_HEADERS}
    if origin and origin in allowed:
        return {"access-control-allow-origin": origin, "vary": "origin", **EXPOSED_HEADERS}
    return {}


# How long an idle keep-alive connection stays open. Longer than any Retry-After the API sends,
# so a client that waits as told and sends again on the same connection never meets one closing
# under it (uvicorn's default, 5 s, equals that wait and resets such connections).
KEEP_ALIVE_SECONDS = 65
# API Gateway's own limit on a request body; the functions apply tighter ones.
MAX_BODY = 10 * 1024 * 1024


class LocalApi:
    def __init__(
        self, template: Template, allowed_origins: Sequence[str] | None = None, invoker: Invoker | None = None
    ) -> None:
        self.template = template
        # Functions with containers of their own (LOCAL_CONCURRENCY) serve requests at once, each in its own.
        self.invoker = invoker
        if allowed_origins is None:
            # ALLOWED_ORIGINS, as the template's AllowedOrigins parameter (default *).
            given = parameter_values(template, dict(os.environ)).get("AllowedOrigins", "*")
            allowed_origins = [o.strip() for o in given.split(",") if o.strip()]
        self.allowed_origins = list(allowed_origins)
        self.routes = [(route, route.pattern) for route in template.routes]
        # The paths of functions given ALLOWED_ORIGINS (ingest): they refuse other origins, so their preflights do too.
        self._origin_checked = {
            route.path
            for route in template.routes
            if "ALLOWED_ORIGINS" in template.functions[route.function].environment
        }
        # Configured as the template configures API Gateway's: by the parameters (JWT_ISSUER, JWT_AUDIENCE).
        values = parameter_values(template, dict(os.environ))
        self.authorizers = {
            name: JwtAuthorizer(
                issuer=values.get(spec.issuer_parameter or "", ""),
                audience=tuple(a for a in values.get(spec.audience_parameter or "", "").split(",") if a),
                header=spec.header,
            )
            for name, spec in template.authorizers.items()
        }
        # Powertools' HTTP resolvers keep the current request in class attributes shared by every
        # resolver, and a Lambda container serves one request at a time: so one at a time here too.
        self._invoking = threading.Lock()
        # A thread waits on each request a container serves: as many threads as containers, where
        # asyncio's default pool (a few threads per core) would cap the concurrency below theirs.
        containers = sum(pool.limit for pool in invoker.pools.values()) if invoker is not None else 0
        self._threads = ThreadPoolExecutor(max_workers=containers + 4) if containers else None

    def _invoke(self, route: Route, event: dict[str, Any]) -> Any:
        if self.invoker is not None and route.function in self.invoker.pools:
            return self.invoker(route.function, event)
        with self._invoking:
            return functions.invoke(self.template.functions[route.function], event)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, pattern in self.routes:
            found = pattern.match(path)
            if found and route.method == method:
                return route, found.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[name] = f"{headers[name]},{text}" if name in headers else text
        cors = cors_headers(self.allowed_origins, headers.get("origin"))
        send = _with_headers(send, cors)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await self._send(
                    send,
                    413,
                    {"content-type": "application/json"},
                    json.dumps({"message": "Request Entity Too Large"}).encode(),
                )
                return
            if not message.get("more_body"):
                break
        method, path = scope["method"].upper(), scope["path"]
        if method == "OPTIONS":
            origin = headers.get("origin")
            if path in self._origin_checked and not origin_allowed(origin, self.allowed_origins):
                await self._send(send, 403, {"content-type": "application/json"}, _foreign_origin(origin))
                return
            await self._send(send, 204, {**PREFLIGHT_HEADERS} if cors else {}, b"")
            return
        if path == "/":
            await self._send(send, 302, {"location": "/dashboard"}, b"")
            return
        matched = self.match(method, path)
        if matched is None:
            await self._send(
                send, 404, {"content-type": "application/json"}, json.dumps({"message": "Not Found"}).encode()
            )
            return
        route, path_parameters = matched
        client = scope.get("client") or ("127.0.0.1", 0)
        event = triggers.http_api(
            method,
            path,
            body=body if body else None,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            route_key=f"{route.method} {route.path}",
            path_parameters=path_parameters or None,
            source_ip=client[0],
        )
        if route.authorizer is not None:
            authorizer = self.authorizers[route.authorizer]
            try:
                # In a thread: the first token makes the authorizer fetch the issuer's keys.
                claims = await asyncio.to_thread(authorizer.claims, headers)
            except Refused as refused:
                body = json.dumps({"message": "Unauthorized", "reason": refused.reason}).encode()
                await self._send(
                    send, 401, {"content-type": "application/json", "www-authenticate": refused.challenge}, body
                )
                return
            event["requestContext"]["authorizer"] = {"jwt": {"claims": request_claims(claims), "scopes": None}}
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._threads, self._invoke, route, event)
        except Exception:  # API Gateway answers 500 when the integration fails
            await self._send(
                send,
                500,
                {"content-type": "application/json"},
                json.dumps({"message": "Internal Server Error"}).encode(),
            )
            raise
        await self._send_result(send, result)

    async def _send_result(self, send: Send, result: Any) -> None:
        if not isinstance(result, dict) or "statusCode" not in result:
            await self._send(send, 200, {"content-type": "application/json"}, json.dumps(result).encode())
            return
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        await self._send(send, int(result["statusCode"]), headers, payload, result.get("cookies") or [])

    async def _send(
        self, send: Send, status: int, headers: dict[str, str], body: bytes, cookies: list[str] | None = None
    ) -> None:
        merged = {**headers, "content-length": str(len(body))}
        header_list = [(k.encode(), v.encode()) for k, v in merged.items()]
        header_list += [(b"set-cookie", c.encode()) for c in cookies or []]
        await send({"type": "http.response.start", "status": status, "headers": header_list})
        await send({"type": "http.response.body", "body": body})


def _foreign_origin(origin: str | None) -> bytes:
    """The body of the 403 that functions refusing other origins answer (resilience_lambda.api.ingest_access)."""
    message, reason = refusal(origin)
    return json.dumps({"message": message, "errors": [{"field": "Origin", "reason": reason}]}).encode()


def _with_headers(send: Send, extra: dict[str, str]) -> Send:
    """send, adding these headers to the answer's start (API Gateway adds CORS headers to every answer)."""
    if not extra:
        return send
    encoded = [(k.encode(), v.encode()) for k, v in extra.items()]

    async def sending(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return sending
