"""Cached authorization end to end: the app's own lifespan (engine, `PoolReader`, listener)
on PostgreSQL, with committed changes, as `energy-api set-active NAME --no` makes them.

A user who was let in is remembered (later requests read nothing); deactivating it in another
session makes its next request a 401 as soon as the change is heard, and reactivating it lets
it in again. The user is committed to the suite's database and deleted at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response

from energy_api.auth import service
from energy_api.config import Settings
from energy_api.db import AnySelect, Reader, create_engine, create_sessionmaker
from energy_api.main import create_app
from energy_api.security import TokenType, encode_token
from tests.auth.helpers import BAD_TOKEN_BODY
from tests.auth.principal_support import WatchedCache, committed_users
from tests.conftest import make_settings

ME = "/api/v1/usuarios/me/"


class CountingReader:
    """The app's reader, counting the statements it runs."""

    def __init__(self, inner: Reader) -> None:
        self.inner = inner
        self.reads = 0

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        self.reads += 1
        return await self.inner.first(statement, params)


@dataclass
class Running:
    http: AsyncClient
    cache: WatchedCache
    reader: CountingReader
    settings: Settings


@asynccontextmanager
async def run_app(database_url: str) -> AsyncIterator[Running]:
    """The real app, its lifespan running; its cache watched and its reader counted."""
    settings = make_settings(database_url)
    app = create_app(settings)
    cache = WatchedCache()
    app.state.principals = cache  # what the lifespan hands to its listener
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http,
    ):
        reader = CountingReader(app.state.reader)
        app.state.reader = reader
        yield Running(http, cache, reader, settings)


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[Running]:
    """On PostgreSQL, once the lifespan's listener is LISTENing."""
    async with run_app(database_url) as running:
        await running.cache.until(lambda: running.cache.enabled)
        yield running
    assert not running.cache.enabled  # shutting down stopped trusting the cache


async def set_active(settings: Settings, username: str, *, active: bool) -> None:
    """What `energy-api set-active` does: one committed transaction of its own."""
    engine = create_engine(settings.sqlalchemy_url, settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            assert await service.set_active(session, username, active=active)
    finally:
        await engine.dispose()


async def me(running: Running, user_id: int) -> Response:
    token = encode_token(
        running.settings,
        subject=str(user_id),
        token_type=TokenType.access,
        ttl=timedelta(minutes=5),
    )
    return await running.http.get(ME, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.usefixtures("postgres_only")
async def test_deactivated_user_is_refused_once_the_change_is_heard(
    database_url: str, running: Running
) -> None:
    cache = running.cache
    async with committed_users(database_url) as [user]:
        first = await me(running, user.id)
        assert first.status_code == 200, first.text
        assert first.json() == {"id": user.id, "username": user.username, "role": "viewer"}
        assert cache.get(user.id) is not None
        reads = running.reader.reads
        assert (await me(running, user.id)).status_code == 200
        assert running.reader.reads == reads  # answered by the cache

        heard = cache.invalidated.count(user.id)
        await set_active(running.settings, user.username, active=False)
        await cache.until(lambda: cache.invalidated.count(user.id) > heard)
        refused = await me(running, user.id)
        assert refused.status_code == 401
        assert refused.json() == BAD_TOKEN_BODY
        assert cache.get(user.id) is None  # a refused user is not remembered

        heard = cache.invalidated.count(user.id)
        await set_active(running.settings, user.username, active=True)
        await cache.until(lambda: cache.invalidated.count(user.id) > heard)
        again = await me(running, user.id)
        assert again.status_code == 200, again.text
        assert cache.get(user.id) is not None


@pytest.mark.usefixtures("postgres_only")
async def test_requests_look_the_user_up_while_the_cache_is_disabled(
    database_url: str, running: Running
) -> None:
    """Without a listener the cache is not trusted: every request reads its user."""
    cache = running.cache
    async with committed_users(database_url) as [user]:
        cache.disable()
        reads = running.reader.reads
        for _ in range(2):
            assert (await me(running, user.id)).status_code == 200
        assert running.reader.reads == reads + 2
        assert cache.get(user.id) is None


@pytest.mark.usefixtures("postgres_only")
async def test_shutdown_stops_the_listener(database_url: str) -> None:
    app = create_app(make_settings(database_url))
    cache = WatchedCache()
    app.state.principals = cache
    async with app.router.lifespan_context(app):
        await cache.until(lambda: cache.enabled)
        tasks = {task.get_name() for task in asyncio.all_tasks()}
        assert "user-change-listener" in tasks
    assert not cache.enabled
    assert "user-change-listener" not in {task.get_name() for task in asyncio.all_tasks()}


async def test_sqlite_looks_the_user_up_on_every_request(database_url: str, backend: str) -> None:
    """SQLite has no NOTIFY: nothing could tell the cache of a change, so it is never used."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL caches (see the tests above)")
    async with committed_users(database_url) as [user], run_app(database_url) as running:
        for _ in range(2):
            assert (await me(running, user.id)).status_code == 200
        assert running.reader.reads == 2
        assert not running.cache.enabled
        await set_active(running.settings, user.username, active=False)
        assert (await me(running, user.id)).status_code == 401
