"""Application factory: routers, error handlers, docs, and the lifespan owning the engine."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from energy_api import __version__
from energy_api.admin import install_admin
from energy_api.analytics.router import router as analytics_router
from energy_api.auth.principals import PrincipalCache, UserChangeListener
from energy_api.auth.router import router as auth_router
from energy_api.auth.router import users_router
from energy_api.auth.tokens import VerifiedTokens
from energy_api.clients.router import router as clients_router
from energy_api.config import Settings, get_settings
from energy_api.consumptions.router import router as consumptions_router
from energy_api.db import (
    asyncpg_dsn,
    create_engine,
    create_read_sessionmaker,
    create_sessionmaker,
    open_reader,
)
from energy_api.errors import PROBLEM_MEDIA_TYPE, install_error_handlers, problem_responses
from energy_api.http.docs import install_docs
from energy_api.http.health import expected_heads
from energy_api.http.health import router as health_router
from energy_api.http.middleware import install_middleware
from energy_api.observability import metrics, tracing
from energy_api.observability.logging import configure_logging, flush_logs
from energy_api.painel import install_painel

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger(__name__)

DESCRIPTION = """
Register clients and their monthly energy consumption, and read analytics over them.

Every `/api/v1/` route needs `Authorization: Bearer <access token>`: click **Authorize** and log in
with a username and password. Roles: `viewer` reads, `editor` also writes, `admin` everything.
Errors are [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) `application/problem+json`.
"""


PROBLEM_REF = "#/components/schemas/Problem"


def operation_id(route: APIRoute) -> str:
    """`<tag>-<name>`: short, unique and stable, so generated SDK methods read well."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def listener_dsn(settings: Settings) -> str | None:
    """Where the user-change listener LISTENs: DATABASE_DIRECT_URL, else DATABASE_URL unless a
    transaction pooler is in front of it (a pooler does not deliver notifications to a
    connection it may hand to someone else: the listener would look connected and hear
    nothing). None: no listener, so the user cache stays off."""
    if settings.database_direct_url:
        return asyncpg_dsn(settings.database_direct_url)
    if settings.database_pooler != "none":
        return None
    return asyncpg_dsn(settings.sqlalchemy_url)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    provider = app.state.tracer_provider
    engine = create_engine(settings.sqlalchemy_url, settings)
    read_engine = engine
    if settings.database_read_url:
        read_engine = create_engine(settings.database_read_url, settings)
    if provider is not None:
        for instrumented in {engine, read_engine}:
            tracing.instrument_engine(instrumented, provider)
    app.state.engine = engine
    app.state.read_engine = read_engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.read_sessionmaker = create_read_sessionmaker(engine)
    app.state.replica_sessionmaker = create_read_sessionmaker(read_engine)
    app.state.migration_heads = await asyncio.to_thread(expected_heads, settings)
    listener = None
    try:
        async with AsyncExitStack() as readers:
            app.state.reader = await readers.enter_async_context(open_reader(engine, settings))
            app.state.replica_reader = (
                app.state.reader
                if read_engine is engine
                else await readers.enter_async_context(open_reader(read_engine, settings))
            )
            if engine.dialect.name == "postgresql":
                dsn = listener_dsn(settings)
                if dsn is None:
                    logger.warning(
                        "DATABASE_POOLER=%s without DATABASE_DIRECT_URL:"
                        " cached authorization is off",
                        settings.database_pooler,
                    )
                else:
                    listener = UserChangeListener(
                        dsn, app.state.principals, connect_timeout=settings.db_connect_timeout
                    )
                    await listener.start()
            app.state.listener = listener
            # What start-up built (modules, routes, schemas, pools) lives as long as the app:
            # out of the cyclic collector's way, which would otherwise walk all of it on every
            # full collection, in the middle of requests.
            gc.collect()
            gc.freeze()
            yield
    finally:
        gc.unfreeze()
        if listener is not None:
            await listener.stop()
        await engine.dispose()
        if read_engine is not engine:
            await read_engine.dispose()
        if provider is not None:
            await asyncio.to_thread(tracing.shutdown, provider)
        metrics.worker_exited(os.getpid())
        flush_logs()  # the last requests' lines, before uvicorn re-raises SIGTERM


def _declare_infrastructure_errors(path: str, operation: dict[str, Any]) -> None:
    """Errors every route can answer without declaring them itself: 400, 413 and 415 (body
    parsing and size, on operations with a body) and 503 (the database is unreachable, on /api)."""
    statuses: list[int] = []
    content = operation.get("requestBody", {}).get("content", {})
    if content:
        statuses.extend((400, 413))
        if "application/json" in content:
            statuses.append(415)
    if path.startswith("/api/"):
        statuses.append(503)
    responses = operation.setdefault("responses", {})
    for status, declared in problem_responses(*statuses).items():
        responses.setdefault(
            str(status),
            {
                "description": declared["description"],
                "content": {"application/json": {"schema": {"$ref": PROBLEM_REF}}},
            },
        )


def _problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with error bodies declared as application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        separate_input_output_schemas=False,
    )
    for path, path_item in schema["paths"].items():
        for operation in path_item.values():
            _declare_infrastructure_errors(path, operation)
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                body = content.get("application/json", {})
                if status[0] in "45" and body.get("schema", {}).get("$ref") == PROBLEM_REF:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    app.openapi_schema = schema
    return schema


def create_app(
    settings: Settings | None = None, *, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """The application. Traces go to `tracer_provider`, else to the one the OTEL_* variables
    configure, else nowhere (tracing off)."""
    settings = settings or get_settings()
    if settings.environment != "test":
        configure_logging(settings)
    if tracer_provider is None:
        tracer_provider = tracing.provider_from_environment()
    app = FastAPI(
        title="Energy Analytics API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Traces come from `observability.tracing` (OTEL_* variables), metrics and logs from
        # our own modules. FastAPI's native telemetry would look up OpenTelemetry's global
        # providers on every request (three environment lookups) to find them unset.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        generate_unique_id_function=operation_id,
        separate_input_output_schemas=False,
        openapi_tags=[
            {"name": "auth", "description": "Log in and renew tokens"},
            {"name": "usuarios", "description": "Users"},
            {"name": "clientes", "description": "Clients (CPF/CNPJ holders)"},
            {"name": "consumos", "description": "Monthly consumption records"},
            {"name": "analytics", "description": "Analytics computed by the database"},
            {"name": "health", "description": "Liveness and readiness probes"},
        ],
    )
    app.state.settings = settings
    app.state.tracer_provider = tracer_provider
    # Set by the lifespan: the migrations' head revisions and the user-change listener.
    app.state.migration_heads = None
    app.state.listener = None
    # Who is active, per process; trusted only while the lifespan's listener hears changes.
    app.state.principals = PrincipalCache()
    # Access tokens whose signature this process has checked (see `auth.tokens`).
    app.state.verified_tokens = VerifiedTokens()
    install_error_handlers(app)
    # Routes are matched in order, one regular expression each: the busiest first.
    for router in (
        analytics_router,
        consumptions_router,
        clients_router,
        auth_router,
        users_router,
        health_router,
    ):
        app.include_router(router)
    install_docs(app)
    install_admin(app, settings)
    install_painel(app)
    install_middleware(app, settings)
    if tracer_provider is not None:
        tracing.instrument_app(app, tracer_provider)
    app.openapi = lambda: _problem_openapi(app)  # type: ignore[method-assign]
    return app
