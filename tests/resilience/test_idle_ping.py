"""Connections that waited in the pool are pinged on checkout; busy ones are not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from energy_api.db import create_engine
from energy_api.db import engine as db
from tests.conftest import make_settings


@pytest.fixture
async def small_engine(postgres_only: None, database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, make_settings(database_url, db_pool_size=1))
    yield engine
    await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(engine: AsyncEngine, pid: int) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def count_pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    dialect = engine.sync_engine.dialect
    real_ping = dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting_ping)
    return pings


async def test_a_connection_killed_while_idle_is_replaced_before_use(
    small_engine: AsyncEngine, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_IF_IDLE_SECONDS", 0.0)
    pid = await backend_pid(small_engine)
    await terminate(engine, pid)
    # The pooled connection is dead; the checkout ping notices and opens a new one.
    assert await backend_pid(small_engine) != pid


async def test_a_connection_used_a_moment_ago_is_not_pinged(
    small_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_IF_IDLE_SECONDS", 60.0)
    await backend_pid(small_engine)  # the first checkout of a new connection is pinged
    pings = count_pings(small_engine, monkeypatch)
    for _ in range(3):
        await backend_pid(small_engine)
    assert pings == []


async def test_a_connection_idle_past_the_threshold_is_pinged(
    small_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await backend_pid(small_engine)
    monkeypatch.setattr(db, "PING_IF_IDLE_SECONDS", 0.0)
    pings = count_pings(small_engine, monkeypatch)
    await backend_pid(small_engine)
    assert len(pings) == 1
