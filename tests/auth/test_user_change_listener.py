"""`UserChangeListener` against the real server: the cache is trusted only while a connection
LISTENs, a committed change drops its user, and a lost connection disables the cache at once
and is replaced.

The users are committed to the suite's PostgreSQL database and deleted by each test. Every
wait is on the cache's own changes (`WatchedCache.until`), bounded by a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from energy_api.auth.models import Role
from energy_api.auth.principals import Principal, UserChangeListener
from energy_api.db import asyncpg_dsn
from tests.auth.principal_support import (
    WAIT_SECONDS,
    CommittedUser,
    Mode,
    WatchedCache,
    committed_users,
    proxy_to,
)

pytestmark = pytest.mark.usefixtures("postgres_only")

# Long enough that only the termination callback can explain a prompt reaction.
NEVER_CHECK = 60.0
PROMPTLY = 2.0

MakeListener = Callable[..., UserChangeListener]


@pytest.fixture
async def make_listener(database_url: str) -> AsyncIterator[MakeListener]:
    """`make_listener(**options)` → a listener (not started) on a fresh `WatchedCache`, for the
    test database unless `dsn=` says otherwise; every one is stopped afterwards."""
    made: list[UserChangeListener] = []

    def make(dsn: str | None = None, **options: float) -> UserChangeListener:
        options.setdefault("check_seconds", NEVER_CHECK)
        options.setdefault("retry_seconds", 0.05)
        listener = UserChangeListener(dsn or asyncpg_dsn(database_url), WatchedCache(), **options)
        made.append(listener)
        return listener

    try:
        yield make
    finally:
        for listener in made:
            await listener.stop()


def watched(listener: UserChangeListener) -> WatchedCache:
    assert isinstance(listener.cache, WatchedCache)
    return listener.cache


async def connected(listener: UserChangeListener) -> WatchedCache:
    await listener.start()
    async with asyncio.timeout(WAIT_SECONDS):
        await listener.wait_connected()
    return watched(listener)


def cache_user(cache: WatchedCache, user: CommittedUser) -> Principal:
    principal = Principal(id=user.id, username=user.username, role=Role.viewer)
    cache.put(principal, cache.generation)
    assert cache.get(user.id) == principal
    return principal


async def execute(database_url: str, sql: str, *args: object) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute(sql, *args)
    finally:
        await connection.close()


async def terminate_listener_backend(database_url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        terminated = await connection.fetchval(
            "SELECT count(*) FROM ("
            "  SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            "  WHERE application_name = 'energy-api-listener' AND datname = current_database()"
            ") AS t"
        )
    finally:
        await connection.close()
    assert terminated == 1


async def test_cache_is_disabled_until_the_listener_connects(make_listener: MakeListener) -> None:
    listener = make_listener()
    cache = watched(listener)
    assert not cache.enabled
    assert not listener.connected
    await connected(listener)
    assert listener.connected
    assert cache.enabled


async def test_cache_is_enabled_only_once_listen_is_answered(
    database_url: str, make_listener: MakeListener
) -> None:
    """Enabled any earlier, the cache could keep a user whose change nobody heard."""
    async with proxy_to(database_url) as proxy:
        proxy.hold_listen = asyncio.Event()
        listener = make_listener(proxy.dsn_for(database_url))
        cache = watched(listener)
        await listener.start()
        async with asyncio.timeout(WAIT_SECONDS):
            await proxy.listen_held.wait()
        assert not cache.enabled
        assert not listener.connected
        proxy.hold_listen.set()
        async with asyncio.timeout(WAIT_SECONDS):
            await listener.wait_connected()
        assert cache.enabled


@pytest.mark.parametrize(
    "statement",
    ["UPDATE users SET is_active = false WHERE id = $1", "DELETE FROM users WHERE id = $1"],
)
async def test_committed_change_drops_only_that_user(
    database_url: str, make_listener: MakeListener, statement: str
) -> None:
    cache = await connected(make_listener())
    async with committed_users(database_url, 2) as [changed, untouched]:
        cache_user(cache, changed)
        kept = cache_user(cache, untouched)
        await execute(database_url, statement, changed.id)
        await cache.until(lambda: changed.id in cache.invalidated)
        assert cache.get(changed.id) is None
        assert cache.get(untouched.id) == kept
        assert cache.enabled


async def test_terminated_connection_disables_the_cache_at_once_and_reconnects(
    database_url: str, make_listener: MakeListener
) -> None:
    listener = make_listener()
    cache = await connected(listener)
    async with committed_users(database_url, 2) as [before, after]:
        cache_user(cache, before)
        disables, enables = cache.disables, cache.enables

        await terminate_listener_backend(database_url)
        await cache.until(lambda: cache.disables > disables, seconds=PROMPTLY)
        assert cache.get(before.id) is None

        await cache.until(lambda: cache.enables > enables and cache.enabled)
        assert listener.connected
        assert cache.get(before.id) is None  # re-enabled from empty
        # The new connection LISTENs too.
        cache_user(cache, after)
        await execute(database_url, "UPDATE users SET role = 'editor' WHERE id = $1", after.id)
        await cache.until(lambda: after.id in cache.invalidated)
        assert cache.get(after.id) is None


async def test_silent_connection_is_noticed_by_the_periodic_check(
    database_url: str, make_listener: MakeListener
) -> None:
    """A server that stopped answering without closing the socket: only the check sees it."""
    async with proxy_to(database_url) as proxy, committed_users(database_url) as [user]:
        listener = make_listener(
            proxy.dsn_for(database_url), check_seconds=0.1, connect_timeout=1.0
        )
        cache = await connected(listener)
        cache_user(cache, user)
        disables = cache.disables
        proxy.mode = Mode.frozen
        await cache.until(lambda: cache.disables > disables)
        assert cache.get(user.id) is None
        assert not cache.enabled


async def test_listener_keeps_retrying_until_the_database_answers(
    database_url: str, make_listener: MakeListener
) -> None:
    async with proxy_to(database_url) as proxy:
        proxy.mode = Mode.refuse
        listener = make_listener(proxy.dsn_for(database_url))
        cache = watched(listener)
        await listener.start()  # starts although the database cannot be reached
        await proxy.until_accepted(2)  # refused, and tried again
        assert not cache.enabled
        assert not listener.connected
        proxy.mode = Mode.forward
        async with asyncio.timeout(WAIT_SECONDS):
            await listener.wait_connected()
        assert cache.enabled


async def test_stop_disables_the_cache(database_url: str, make_listener: MakeListener) -> None:
    listener = make_listener()
    cache = await connected(listener)
    async with committed_users(database_url) as [user]:
        cache_user(cache, user)
        await listener.stop()
        assert not cache.enabled
        assert not listener.connected
        assert cache.get(user.id) is None
        cache.put(Principal(id=user.id, username=user.username, role=Role.viewer), cache.generation)
        assert cache.get(user.id) is None
