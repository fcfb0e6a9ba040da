"""Application factory: routers, error handlers, docs, and the lifespan owning the engine."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
from energy_api.http.health import router as health_router
from energy_api.http.middleware import install_middleware
from energy_api.painel import install_painel

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


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = create_engine(settings.sqlalchemy_url, settings)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.read_sessionmaker = create_read_sessionmaker(engine)
    listener = None
    try:
        async with open_reader(engine, settings) as reader:
            app.state.reader = reader
            if engine.dialect.name == "postgresql":
                listener = UserChangeListener(
                    asyncpg_dsn(settings.sqlalchemy_url),
                    app.state.principals,
                    connect_timeout=settings.db_connect_timeout,
                )
                await listener.start()
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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Energy Analytics API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
        separate_input_output_schemas=False,
        openapi_tags=[
            {"name": "auth", "description": "Log in and renew tokens"},
            {"name": "usuarios", "description": "Users"},
            {"name": "clientes", "description": "Clients (CPF/CNPJ holders)"},
            {"name": "consumos", "description": "Monthly consumption records"},
            {"name": "analytics", "description": "Analytics computed by the database"},
            {"name": "health", "description": "Liveness and database readiness"},
        ],
    )
    app.state.settings = settings
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
    app.openapi = lambda: _problem_openapi(app)  # type: ignore[method-assign]
    return app
