"""Fixtures for tests that need committed data: a fresh PostgreSQL database of their own.

The suite's shared fixtures roll every test back, which is right for most tests but not for
fuzzing (positive data must find rows that exist) or for concurrency (each request needs its
own transaction). These databases are created from the same migrations and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from energy_api.auth.models import Role, User
from energy_api.cli import migrate
from energy_api.config import Settings
from energy_api.db import create_engine, create_sessionmaker
from energy_api.main import create_app
from tests.conftest import DEFAULT_PG_URL, make_settings


def _admin_dsn(url: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


async def _admin(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@dataclass(frozen=True)
class OwnDatabase:
    url: str  # SQLAlchemy URL (postgresql+asyncpg://…)

    @property
    def dsn(self) -> str:
        """The same database as a plain libpq DSN, for asyncpg."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)


def own_database_url(base: str, prefix: str) -> str:
    """The URL of a database that does not exist yet (see `create_own_database`)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def create_own_database(url: str) -> Iterator[OwnDatabase]:
    """Create and migrate the database named by `url`; drop it afterwards."""
    name = make_url(url).database
    admin_dsn = _admin_dsn(url)
    asyncio.run(_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    try:
        migrate(make_settings(url))
        yield OwnDatabase(url)
    finally:
        asyncio.run(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def base_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)


@pytest.fixture
def own_database() -> Iterator[OwnDatabase]:
    """A migrated, empty PostgreSQL database whose writes are committed (dropped afterwards)."""
    yield from create_own_database(own_database_url(base_url(), "energy_own"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fuzzed DELETE operations run after the module's other operations, so the seeded rows
    exist while those run; nothing moves out of its module."""
    positions = [i for i, item in enumerate(items) if item.path.name == "test_fuzz.py"]
    fuzzed = sorted((items[i] for i in positions), key=lambda item: "[DELETE " in item.name)
    for position, item in zip(positions, fuzzed, strict=True):
        items[position] = item


async def add_committed_user(url: str, role: Role, username: str | None = None) -> User:
    """A user committed to the database at `url` (the password hash is never checked)."""
    engine = create_engine(url, make_settings(url))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = User(
                username=username or f"{role.value}-{uuid.uuid4().hex[:8]}",
                password_hash="unused",
                role=role.value,
            )
            session.add(user)
            await session.flush()
            return user
    finally:
        await engine.dispose()


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The real app (its own engine and sessions, as in production) behind an AsyncClient."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client
