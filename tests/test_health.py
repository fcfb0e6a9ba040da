"""GET /health/: no authentication; 200 when the database answers, else 503."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from energy_api.db import create_engine
from tests.conftest import make_settings

# Nothing listens on port 1: connecting is refused at once.
UNREACHABLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/x"


@pytest.fixture
async def unreachable_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine(UNREACHABLE_URL, make_settings(UNREACHABLE_URL))
    yield engine
    await engine.dispose()


async def test_health_is_200_when_the_database_answers(client: AsyncClient) -> None:
    response = await client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "connected"}


async def test_health_is_503_when_the_database_is_unreachable(
    app: FastAPI, client: AsyncClient, unreachable_engine: AsyncEngine
) -> None:
    app.state.engine = unreachable_engine
    response = await client.get("/health/")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "disconnected"}
