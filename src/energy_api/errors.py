"""Domain errors and their single rendering as RFC 9457 problem+json."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from energy_api.db import is_retryable, is_unavailable, is_unstorable_text
from energy_api.observability.metrics import DB_POOL_TIMEOUTS

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_SECONDS = 1
# Errors raised below the services (driver, pool, network) that `database_error_handler` maps.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    PoolTimeoutError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


class FieldError(BaseModel):
    field: str = Field(examples=["consumo_kwh"])
    message: str = Field(examples=["Input should be greater than or equal to 0"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": True})

    type: str = Field(default="about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["Client 42 not found"])
    errors: list[FieldError] | None = None


class AppError(Exception):
    """Base of every error the services raise; rendered by `app_error_handler`."""

    status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    title: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        # Extension members of the problem (RFC 9457 §3.2), e.g. a bulk load's report.
        self.extensions: dict[str, Any] = {}


class BadRequest(AppError):
    status = HTTPStatus.BAD_REQUEST


class Unauthorized(AppError):
    status = HTTPStatus.UNAUTHORIZED

    def __init__(self, detail: str = "Not authenticated") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status = HTTPStatus.FORBIDDEN


class NotFound(AppError):
    status = HTTPStatus.NOT_FOUND


class Conflict(AppError):
    status = HTTPStatus.CONFLICT


class InvalidInput(AppError):
    """A semantically invalid request (422) that names the offending field."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[FieldError(field=field, message=message)])


class PreconditionFailed(AppError):
    """The request's If-Match names a version the resource no longer has (412)."""

    status = HTTPStatus.PRECONDITION_FAILED

    def __init__(self, detail: str, *, etag: str) -> None:
        super().__init__(detail, headers={"ETag": etag})


class UnsupportedMediaType(AppError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class ServiceUnavailable(AppError):
    status = HTTPStatus.SERVICE_UNAVAILABLE


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [error.model_dump() for error in errors]
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _field_path(loc: Sequence[int | str]) -> str:
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts)


def _message(error: Mapping[str, Any]) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


async def app_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status,
        exc.detail,
        title=exc.title,
        errors=exc.errors,
        headers=exc.headers,
        extensions=exc.extensions,
    )


def _field_error(error: Mapping[str, Any]) -> FieldError:
    if error["type"] == "json_invalid":
        reason = error.get("ctx", {}).get("error", "malformed")
        position = error["loc"][-1]
        return FieldError(field="body", message=f"Invalid JSON ({reason} at position {position})")
    return FieldError(field=_field_path(error["loc"]), message=_message(error))


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if isinstance(exc.body, bytes | bytearray):
        # FastAPI leaves the body as bytes when a JSON route gets another Content-Type.
        content_type = request.headers.get("content-type")
        sent = f"got {content_type!r}" if content_type else "the header is missing"
        return problem_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type must be application/json ({sent})",
        )
    errors = [_field_error(e) for e in exc.errors()]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "Invalid request"
    return problem_response(HTTPStatus.UNPROCESSABLE_ENTITY, detail, errors=errors)


_OPERATION_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})


@lru_cache(maxsize=256)
def _path_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI document lists for this path. A literal path (`/usuarios/me/`)
    is routed before a template that also matches it (`/usuarios/{id}/`), so it alone counts."""
    paths = request.app.openapi()["paths"]
    if (literal := paths.get(request.url.path)) is not None:
        return sorted(method.upper() for method in literal if method in _OPERATION_METHODS)
    methods: set[str] = set()
    for template, item in paths.items():
        if _path_regex(template).fullmatch(request.url.path):
            methods.update(method.upper() for method in item if method in _OPERATION_METHODS)
    return sorted(methods)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    # Starlette names only the first route that matched the path in Allow; list them all.
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED and (allowed := _allowed_methods(request)):
        headers["Allow"] = ", ".join(allowed)
    return problem_response(exc.status_code, str(exc.detail), headers=headers)


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The one place where driver, pool and network failures become HTTP answers.

    Connection-level failures (refused, reset, closed, pool exhausted, shutdown, statement
    or lock timeout, SQLite's busy timeout) are a 503 the client may retry, and so is a
    deadlock or serialization failure that outlived the route's own retries; text PostgreSQL
    cannot store is a 422; anything else is a bug (500).
    """
    if is_unavailable(exc) or is_retryable(exc):
        if isinstance(exc, PoolTimeoutError):
            DB_POOL_TIMEOUTS.inc()
        logger.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        return problem_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "The database is unavailable; retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if is_unstorable_text(exc):
        message = "contains characters that cannot be stored (NUL)"
        return problem_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"text: {message}",
            errors=[FieldError(field="text", message=message)],
        )
    return await unhandled_error_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error_handler)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)


_DESCRIPTIONS = {
    400: "Malformed request (e.g. a body that is not UTF-8)",
    401: "Missing, malformed, expired or invalid credentials",
    403: "The user's role does not allow this operation",
    404: "Resource not found",
    409: "Conflicts with existing data",
    412: "If-Match names a version the resource no longer has; GET it again",
    413: "Request body too large",
    415: "The body must be application/json",
    422: "Validation failed; `errors` names each field",
    429: "Too many attempts",
    503: "Database unavailable",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error statuses, all rendered as Problem."""
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        }
        for status in statuses
    }
