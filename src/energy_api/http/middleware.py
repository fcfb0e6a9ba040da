"""Pure ASGI middleware around every request: request id, logs and metrics, body size,
unstorable text, headers, CORS.

They sit outside the router, so they hold for every route (and for routes added later) without
each one having to remember them.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from energy_api.config import Settings
from energy_api.errors import FieldError, problem_response
from energy_api.observability.logging import (
    RequestInfo,
    current_request,
    log_request,
    looks_secret,
)
from energy_api.observability.metrics import HTTP_IN_FLIGHT, RequestSeries

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
# Requests whose body no route reads. Others are counted even without Content-Length or
# Transfer-Encoding (over HTTP/2 a body may come with neither).
_BODILESS = frozenset({"GET", "HEAD"})
# The one route whose bodies may be larger (`Settings.bulk_max_bytes`).
BULK_PATH = "/api/v1/consumos/lote/"
EXPOSED_HEADERS = (
    "ETag",
    "Retry-After",
    "Idempotent-Replayed",
    "Location",
    "Content-Disposition",
)
# Tokens and personal documents must not be kept by browsers or shared caches.
NO_STORE_PREFIX = "/api/"


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the streamed body passes the limit.

    An HTTPException, so FastAPI's body reader lets it through to the problem+json handler.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"Request body is larger than the limit of {limit} bytes",
        )


class BodySizeLimitMiddleware:
    """413 for bodies over `max_bytes` (or the path's own limit in `per_path`): at once if
    Content-Length says so, else while streaming."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is None and not chunked and scope["method"] in _BODILESS:
            # No body, and none read (the hot path): nothing to count, no wrappers to pay for.
            await self.app(scope, receive, send)
            return
        max_bytes = self.per_path.get(scope["path"], self.default_max_bytes)
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                response = problem_response(HTTPStatus.BAD_REQUEST, "Invalid Content-Length header")
                await response(scope, receive, send)
                return
            if int(declared) > max_bytes:
                await self._too_large(scope, receive, send, max_bytes)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send, max_bytes)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = BodyTooLarge(limit).detail
        response = problem_response(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, detail, headers={"Connection": "close"}
        )
        await response(scope, receive, send)


class UnstorableQueryMiddleware:
    """422 for a NUL character in the path or the query string.

    PostgreSQL cannot store NUL in text; request bodies are checked by the schemas
    (`energy_api.schemas.InputModel`), this covers what arrives in the URL.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = None
            if "\x00" in scope["path"]:
                where = "path"
            elif b"%00" in scope.get("query_string", b""):
                where = "query"
            if where is not None:
                message = "must not contain NUL characters"
                response = problem_response(
                    HTTPStatus.UNPROCESSABLE_ENTITY,
                    f"{where}: {message}",
                    errors=[FieldError(field=where, message=message)],
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HeadAsGetMiddleware:
    """HEAD answers exactly as GET would, without the body (RFC 9110 §9.3.2).

    The request is routed as a GET (so every GET route, its authentication and its errors hold
    for HEAD without being declared twice in OpenAPI), and the body is dropped on the way out;
    the headers, Content-Length included, stay those of the GET.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the server keeps the original scope and, seeing HEAD, sends no body itself.
        routed = {**scope, "method": "GET"}
        try:
            await self.app(routed, receive, headers_only)
        finally:
            # The route that answered, for the request's log line and metrics.
            for key in ROUTING_KEYS:
                if key in routed:
                    scope[key] = routed[key]


REQUEST_ID_HEADER = b"x-request-id"
# A request id we accept from a caller (or a proxy): short, printable, no spaces or quotes.
REQUEST_ID_PATTERN = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
UNMATCHED_ROUTE = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# What routing writes into the scope, copied back by `HeadAsGetMiddleware`.
ROUTING_KEYS = ("route", "endpoint", "root_path")
_SECURITY_RAW = tuple((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS)
_CSP_RAW = (b"content-security-policy", API_CSP.encode())
_NO_STORE_RAW = (b"cache-control", b"no-store")


# Generated request ids: 16 random hex digits per process, then a counter in 16 more. Unique
# without asking the kernel for randomness on every request (uvicorn's workers are spawned, so
# each starts with a prefix of its own).
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`/api/v1/clientes/{client_id}`), the mount
    (`/admin/{path}`), or `<unmatched>`: never the raw path, so series stay few."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    if "endpoint" in scope and scope.get("root_path"):
        return f"{scope['root_path']}/{{path}}"
    return UNMATCHED_ROUTE


class EdgeMiddleware:
    """The outermost layer: request id, security headers, the request's log line and metrics.

    - `X-Request-ID` is taken from the request when well-formed, else generated, and always
      echoed; every log line of the request carries it (`observability.logging.RequestInfo`).
    - Security headers on every response; a route may set its own Content-Security-Policy.
      The API gets a CSP that allows nothing (it serves JSON only); /docs and /redoc set a
      policy of their own that allows exactly their local assets and inline scripts
      (`energy_api.http.docs`). Under /api/ responses are not stored.
    - One log line per request (method, route template, status, duration, user, client) and
      the request's count and latency by route template, method and status.

    The per-request work is kept small: the metric series are resolved once per
    (route, method, status), the log line is one dict and one `json.dumps`, and one context
    variable is set.
    """

    def __init__(self, app: ASGIApp, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests
        self.series = RequestSeries()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                if REQUEST_ID_PATTERN.fullmatch(value) and not looks_secret(value.decode()):
                    request_id = value.decode()
                break
        if request_id is None:
            request_id = new_request_id()
        info = RequestInfo(request_id)
        token = current_request.set(info)
        no_store = scope["path"].startswith(NO_STORE_PREFIX)
        echoed = (REQUEST_ID_HEADER, request_id.encode())
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A copy: a response object may be sent more than once with the same list.
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(raw for raw in _SECURITY_RAW if raw[0] not in present)
                if _CSP_RAW[0] not in present:
                    headers.append(_CSP_RAW)
                if no_store:
                    headers = [raw for raw in headers if raw[0].lower() != b"cache-control"]
                    headers.append(_NO_STORE_RAW)
                headers.append(echoed)
                message["headers"] = headers
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            HTTP_IN_FLIGHT.dec()
            seconds = time.perf_counter() - started
            template = route_template(scope)
            method = scope["method"]
            if method not in KNOWN_METHODS:  # a caller's invention must not add series
                method = "OTHER"
            self.series.observe(template, method, status, seconds)
            if self.log_requests:
                client = scope.get("client")
                log_request(
                    {
                        "request_id": request_id,
                        "method": method,
                        "route": template,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "user_id": info.user_id,
                        "client": client[0] if client else None,
                    }
                )
            current_request.reset(token)


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Added innermost first: the edge (request id, security headers, logs, metrics) wraps
    everything, CORS wraps the error replies."""
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_body_bytes,
        per_path={BULK_PATH: settings.bulk_max_bytes},
    )
    app.add_middleware(UnstorableQueryMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "If-None-Match",
            ],
            # What browser code must be able to read from an answer.
            expose_headers=list(EXPOSED_HEADERS),
        )
    app.add_middleware(EdgeMiddleware, log_requests=settings.log_requests)
