"""Database failures: statement timeout, pool exhaustion, unreachable server → 503, one place."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from energy_api.auth.models import Role
from energy_api.config import Settings
from energy_api.db import SessionDep, create_engine, discard, is_unavailable
from energy_api.errors import PROBLEM_MEDIA_TYPE
from energy_api.main import create_app
from tests.conftest import access_token, make_settings
from tests.resilience.conftest import OwnDatabase, add_committed_user


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def with_sleep_route(app: FastAPI) -> FastAPI:
    """A route for these tests only: holds the request's connection in pg_sleep."""

    @app.get("/test-only/sleep/{seconds}")
    async def sleep(seconds: float, session: SessionDep) -> dict[str, bool]:
        await session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return {"slept": True}

    return app


async def _client(settings: Settings) -> tuple[FastAPI, AsyncClient]:
    app = with_sleep_route(create_app(settings))
    return app, AsyncClient(transport=ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize(
    "error",
    [
        PoolTimeoutError("QueuePool limit reached"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        InterfaceError("SELECT 1", {}, Exception("connection is closed")),
        DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_connection_level_errors_count_as_unavailable(error: BaseException) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", {}, asyncpg.UniqueViolationError("duplicate key")),
        asyncpg.DataError("invalid input"),
        ValueError("not a database error"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_other_errors_do_not_count_as_unavailable(error: BaseException) -> None:
    assert not is_unavailable(error)


async def test_discard_does_not_raise_when_rollback_fails() -> None:
    calls: list[str] = []

    class DeadSession:
        async def rollback(self) -> None:
            calls.append("rollback")
            raise ConnectionResetError("gone")

        async def invalidate(self) -> None:
            calls.append("invalidate")

    session: Any = DeadSession()
    await discard(session)
    assert calls == ["rollback", "invalidate"]


async def test_discard_gives_up_on_a_rollback_that_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("energy_api.db.session.ROLLBACK_TIMEOUT_SECONDS", 0.05)
    invalidated = asyncio.Event()

    class HangingSession:
        async def rollback(self) -> None:
            await asyncio.sleep(3600)

        async def invalidate(self) -> None:
            invalidated.set()

    session: Any = HangingSession()
    async with asyncio.timeout(5):
        await discard(session)
    assert invalidated.is_set()


async def test_unreachable_database_answers_503_problem_on_api_routes() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/energy"
    settings = make_settings(url)
    app = create_app(settings)
    token = access_token(settings, _user(1))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.get(
            "/api/v1/clientes/", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["retry-after"] == "1"
    assert response.json()["detail"] == "The database is unavailable; retry shortly"


async def test_unreachable_database_makes_health_say_disconnected() -> None:
    app = create_app(make_settings(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/x"))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.get("/health/")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "disconnected"}


def _user(user_id: int) -> Any:
    from energy_api.auth.models import User

    return User(id=user_id, username="x", password_hash="x", role=Role.admin.value)


async def test_statement_timeout_is_set_on_every_connection(
    postgres_only: None, database_url: str
) -> None:
    engine = create_engine(database_url, make_settings(database_url, db_statement_timeout_ms=1234))
    try:
        async with engine.connect() as connection:
            value = await connection.scalar(text("SHOW statement_timeout"))
    finally:
        await engine.dispose()
    assert value == "1234ms"


async def test_a_statement_past_the_timeout_answers_503(
    postgres_only: None, database_url: str
) -> None:
    app, client = await _client(make_settings(database_url, db_statement_timeout_ms=100))
    async with app.router.lifespan_context(app), client:
        response = await client.get("/test-only/sleep/5")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE


async def test_a_statement_within_the_timeout_succeeds(
    postgres_only: None, database_url: str
) -> None:
    app, client = await _client(make_settings(database_url, db_statement_timeout_ms=2000))
    async with app.router.lifespan_context(app), client:
        response = await client.get("/test-only/sleep/0.01")
    assert response.status_code == 200


async def test_an_exhausted_pool_answers_503(
    postgres_only: None, own_database: OwnDatabase
) -> None:
    settings = make_settings(
        own_database.url, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2
    )
    viewer = await add_committed_user(own_database.url, Role.viewer)
    headers = {"Authorization": f"Bearer {access_token(settings, viewer)}"}
    app, client = await _client(settings)
    timeouts = REGISTRY.get_sample_value("energy_api_db_pool_timeouts_total") or 0
    async with app.router.lifespan_context(app), client:
        holder = asyncio.create_task(client.get("/test-only/sleep/1"))
        await asyncio.sleep(0.2)  # let it take the only connection
        in_use = REGISTRY.get_sample_value("energy_api_db_pool_connections_in_use")
        response = await client.get("/api/v1/clientes/", headers=headers)
        held = await holder
    assert held.status_code == 200
    assert response.status_code == 503
    # Seen in /metrics: the connection held, and the wait that ran out.
    assert in_use is not None and in_use >= 1
    assert REGISTRY.get_sample_value("energy_api_db_pool_timeouts_total") == timeouts + 1


async def test_session_rollback_on_a_dead_connection_answers_503(
    postgres_only: None, own_database: OwnDatabase
) -> None:
    """The connection is killed mid-request: one 503, no secondary error, and the next
    request gets a fresh connection."""
    settings = make_settings(own_database.url)
    app, client = await _client(settings)

    @app.get("/test-only/die")
    async def die(session: SessionDep) -> dict[str, bool]:
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return {"survived": True}

    async with app.router.lifespan_context(app), client:
        dead = await client.get("/test-only/die")
        after = await client.get("/test-only/sleep/0")
    assert dead.status_code == 503
    assert after.status_code == 200
