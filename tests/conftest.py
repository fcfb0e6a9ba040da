"""Test fixtures: a real database per backend, migrated with Alembic, one transaction per test.

Every test that uses `db_session` or `client` runs once on PostgreSQL and once on SQLite. The
session joins an outer transaction (SQLAlchemy's "joining a session into an external
transaction" recipe) that is rolled back afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from energy_api.auth.models import Role, User
from energy_api.cli import migrate
from energy_api.config import Settings
from energy_api.consumptions.models import Consumption
from energy_api.db import (
    SessionReader,
    create_engine,
    get_replica_session,
    get_session,
    request_transaction,
)
from energy_api.main import create_app
from energy_api.security import TokenType, encode_token, pwd_context
from energy_api.summaries.models import (
    ClientTotal,
    ClientTrailingYear,
    FlaggedMonth,
    FlaggedMonthCount,
    PortfolioMonth,
    PortfolioMonthLink,
)

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
TEST_PASSWORD = "correct horse battery staple"
BACKENDS = ("postgresql", "sqlite")


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "environment": "test",
        "document_validation": "strict",
        "cors_origins": [],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def _admin_dsn(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database for the whole run, built by `alembic upgrade head`."""
    backend: str = request.param
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrate(make_settings(url))
        yield url
        return
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)
    name = f"energy_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = _admin_dsn(base)

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(make_settings(url))
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def engine(database_url: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            if transaction.is_active:
                await transaction.rollback()


@pytest.fixture
async def db_session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    session = AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    try:
        yield session
    finally:
        await session.close()


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One argon2 hash of TEST_PASSWORD, computed once (hashing takes ~0.1 s)."""
    hashed: str = pwd_context.hash(TEST_PASSWORD)
    return hashed


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def app_factory(database_url: str, engine: AsyncEngine, db_session: AsyncSession) -> AppFactory:
    """Apps whose requests share the test's session; settings can be overridden per test."""

    def build(**overrides: Any) -> FastAPI:
        app = create_app(make_settings(database_url, **overrides))
        app.state.engine = engine

        async def test_session() -> AsyncIterator[AsyncSession]:
            # What the test wrote before the request counts as committed (it releases the
            # savepoint), so a request that fails rolls back only its own work, as in
            # production. Nothing loaded earlier is reachable, so a missing eager load fails
            # here too.
            await db_session.commit()
            db_session.expunge_all()
            async with request_transaction(db_session):
                yield db_session

        app.dependency_overrides[get_session] = test_session
        # What the lifespan would open; the routes and authentication read them from the state.
        app.state.reader = app.state.replica_reader = SessionReader(db_session)
        app.dependency_overrides[get_replica_session] = test_session
        return app

    return build


@pytest.fixture
def app(app_factory: AppFactory) -> FastAPI:
    return app_factory()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def add_user(
    session: AsyncSession,
    password_hash: str,
    *,
    username: str,
    role: Role,
    active: bool = True,
) -> User:
    user = User(username=username, password_hash=password_hash, role=role.value, is_active=active)
    session.add(user)
    await session.flush()
    return user


def access_token(settings: Settings, user: User, **kwargs: Any) -> str:
    token_type: TokenType = kwargs.pop("token_type", TokenType.access)
    ttl: timedelta = kwargs.pop("ttl", timedelta(minutes=5))
    return encode_token(settings, subject=str(user.id), token_type=token_type, ttl=ttl, **kwargs)


@pytest.fixture
def users(db_session: AsyncSession, password_hash: str) -> Callable[[Role], Any]:
    async def make(role: Role, *, active: bool = True, username: str | None = None) -> User:
        return await add_user(
            db_session,
            password_hash,
            username=username or f"{role.value}-{uuid.uuid4().hex[:8]}",
            role=role,
            active=active,
        )

    return make


@pytest.fixture
async def auth_headers(users: Callable[..., Any], settings: Settings) -> Callable[..., Any]:
    """`await auth_headers(Role.editor)` → headers with a valid access token for a new user."""

    async def make(role: Role = Role.admin) -> dict[str, str]:
        user = await users(role)
        return {"Authorization": f"Bearer {access_token(settings, user)}"}

    return make


@pytest.fixture
async def admin_headers(auth_headers: Callable[..., Any]) -> dict[str, str]:
    headers: dict[str, str] = await auth_headers(Role.admin)
    return headers


@pytest.fixture
async def editor_headers(auth_headers: Callable[..., Any]) -> dict[str, str]:
    headers: dict[str, str] = await auth_headers(Role.editor)
    return headers


@pytest.fixture
async def viewer_headers(auth_headers: Callable[..., Any]) -> dict[str, str]:
    headers: dict[str, str] = await auth_headers(Role.viewer)
    return headers


@pytest.fixture
def postgres_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("needs PostgreSQL")


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def client_without_database() -> AsyncIterator[AsyncClient]:
    """A client for routes that never touch the database (docs, OpenAPI, routing errors).

    The app's lifespan is not run, so it has no engine: no backend parametrization needed.
    """
    app = create_app(make_settings("sqlite+aiosqlite://"))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture(params=BACKENDS)
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A new, empty database of each backend, dropped afterwards (for the migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)
    name = f"energy_migrations_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_admin_dsn(base))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def empty_portfolio(db_session: AsyncSession) -> None:
    """No consumption at all, inside the test's transaction (rolled back afterwards).

    Portfolio-wide answers cover every client, so tests of them start from nothing, whatever
    other tests may have committed to the shared test database.
    """
    await db_session.execute(delete(Consumption))
    await db_session.execute(delete(PortfolioMonthLink))
    await db_session.execute(delete(PortfolioMonth))
    await db_session.execute(delete(ClientTotal))
    await db_session.execute(delete(ClientTrailingYear))
    await db_session.execute(delete(FlaggedMonth))
    await db_session.execute(delete(FlaggedMonthCount))
