"""Probes, without authentication: `/health/live` (liveness), `/health/ready` (readiness) and
`/health/` (the database answers; kept for existing monitors)."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from energy_api.config import Settings

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 3.0

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["connected", "disconnected"]


async def database_reachable(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not reachable now"
        logger.warning("health check: database unreachable: %r", exc)
        return False
    return True


@router.get(
    "/health/",
    name="check",
    summary="Service and database health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database is unreachable"}},
)
async def health(request: Request) -> JSONResponse:
    """200 when the database answers within 3 s, else 503."""
    if await database_reachable(request.app.state.engine):
        return JSONResponse(Health(status="ok", database="connected").model_dump())
    return JSONResponse(
        Health(status="error", database="disconnected").model_dump(), status_code=503
    )


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["connected", "disconnected"]
    migrations: Literal["current", "behind", "unknown"]
    listener: Literal["connected", "disconnected", "off"]


def expected_heads(settings: Settings) -> frozenset[str] | None:
    """The head revisions of the migrations this code ships (blocking: reads the files)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from energy_api.cli import CommandError, alembic_config

    try:
        config = alembic_config(settings)
    except CommandError:
        return None
    assert isinstance(config, Config)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


async def migrations_state(engine: AsyncEngine, heads: frozenset[str] | None) -> str:
    if heads is None:
        return "unknown"
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS), engine.connect() as connection:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            applied = frozenset(row[0] for row in rows)
    except Exception as exc:
        logger.warning("readiness: migrations unreadable: %r", exc)
        return "unknown"
    return "current" if applied == heads else "behind"


@router.get(
    "/health/live",
    name="live",
    summary="Liveness: the process answers",
    response_model=Liveness,
)
async def live() -> Liveness:
    """200 whenever the process can answer; no database call, so a database outage does not
    get healthy processes restarted. Use it as the liveness probe."""
    return Liveness(status="ok")


@router.get(
    "/health/ready",
    name="ready",
    summary="Readiness: database, migrations and user-change listener",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready to serve requests"}},
)
async def ready(request: Request) -> JSONResponse:
    """200 when the database answers within 3 s, its migrations are at this code's head, and
    the user-change listener is connected (`off` when the service runs without one); else 503.
    Use it as the readiness probe: a process that is not ready gets no traffic."""
    state = request.app.state
    engine: AsyncEngine = state.engine
    reachable = await database_reachable(engine)
    migrations = await migrations_state(engine, state.migration_heads) if reachable else "unknown"
    listener = state.listener
    listening = (
        "off" if listener is None else ("connected" if listener.connected else "disconnected")
    )
    ok = reachable and migrations == "current" and listening != "disconnected"
    body = Readiness(
        status="ok" if ok else "error",
        database="connected" if reachable else "disconnected",
        migrations=migrations,
        listener=listening,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
