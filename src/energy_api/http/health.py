"""Liveness and database readiness, without authentication."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

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
