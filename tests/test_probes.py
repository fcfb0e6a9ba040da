"""Probes: /health/live never touches the database; /health/ready needs the database, the
migrations at head and, where one is expected, the user-change listener."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from energy_api.config import Settings
from energy_api.db import create_engine
from energy_api.http.health import expected_heads
from energy_api.main import create_app
from tests.conftest import make_settings

UNREACHABLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/x"


@pytest.fixture
async def unreachable_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine(UNREACHABLE_URL, make_settings(UNREACHABLE_URL))
    yield engine
    await engine.dispose()


@pytest.fixture
def ready_app(app: FastAPI, settings: Settings) -> FastAPI:
    app.state.migration_heads = expected_heads(settings)
    return app


class Listener:
    """Stands in for the user-change listener's one property the probe reads."""

    def __init__(self, connected: bool) -> None:
        self.connected = connected


async def test_live_answers_without_a_database(unreachable_engine: AsyncEngine) -> None:
    app = create_app(make_settings(UNREACHABLE_URL))
    app.state.engine = unreachable_engine
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/health/live")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        # The old probe, kept as it was, does check the database.
        assert (await client.get("/health/")).status_code == 503


async def test_ready_when_database_migrations_and_listener_are(
    ready_app: FastAPI, client: AsyncClient
) -> None:
    ready_app.state.listener = Listener(connected=True)
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "connected",
        "migrations": "current",
        "listener": "connected",
    }


async def test_ready_without_a_listener_reports_it_off(
    ready_app: FastAPI, client: AsyncClient
) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["listener"] == "off"


async def test_not_ready_while_the_listener_is_disconnected(
    ready_app: FastAPI, client: AsyncClient
) -> None:
    ready_app.state.listener = Listener(connected=False)
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["listener"] == "disconnected"
    assert response.json()["status"] == "error"


async def test_not_ready_when_migrations_are_behind(
    ready_app: FastAPI, client: AsyncClient
) -> None:
    ready_app.state.migration_heads = frozenset({"20991231_9999"})
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["migrations"] == "behind"


async def test_not_ready_when_the_database_is_unreachable(
    ready_app: FastAPI, client: AsyncClient, unreachable_engine: AsyncEngine
) -> None:
    ready_app.state.engine = unreachable_engine
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "disconnected",
        "migrations": "unknown",
        "listener": "off",
    }


async def test_ready_after_the_real_lifespan(database_url: str, backend: str) -> None:
    """The lifespan finds the heads and, on PostgreSQL, starts the listener the probe waits for."""
    app = create_app(make_settings(database_url))
    async with app.router.lifespan_context(app):
        if backend == "postgresql":
            import asyncio

            async with asyncio.timeout(5):
                await app.state.listener.wait_connected()
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    expected = "connected" if backend == "postgresql" else "off"
    assert response.json()["listener"] == expected
