"""The request boundary: which session a request gets and what it commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from energy_api.db import create_read_sessionmaker, create_sessionmaker, get_session


async def runs_in_one_transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    """Whether two statements of a session share a database transaction (same xid)."""
    async with sessionmaker() as session:
        first = await session.scalar(text("SELECT txid_current()"))
        second = await session.scalar(text("SELECT txid_current()"))
        await session.rollback()
        return bool(first == second)


async def test_reads_run_without_a_transaction_on_postgresql(
    postgres_only: None, engine: AsyncEngine
) -> None:
    assert not await runs_in_one_transaction(create_read_sessionmaker(engine))


async def test_writes_run_in_one_transaction(postgres_only: None, engine: AsyncEngine) -> None:
    assert await runs_in_one_transaction(create_sessionmaker(engine))


async def test_autocommit_reads_do_not_leak_into_later_write_sessions(
    postgres_only: None, engine: AsyncEngine
) -> None:
    """The pool is shared: a connection used for reads is back in a transaction for writes."""
    for _ in range(3):
        assert not await runs_in_one_transaction(create_read_sessionmaker(engine))
        assert await runs_in_one_transaction(create_sessionmaker(engine))


class _Request:
    def __init__(self, method: str, app: Any) -> None:
        self.method = method
        self.app = app


@pytest.mark.parametrize(
    ("method", "expected"),
    [("GET", "read"), ("HEAD", "read"), ("POST", "write"), ("PATCH", "write"), ("DELETE", "write")],
)
async def test_get_session_picks_the_read_sessionmaker_only_for_get_and_head(
    engine: AsyncEngine, method: str, expected: str
) -> None:
    app = FastAPI()
    made: list[str] = []

    def maker(kind: str) -> Any:
        def make() -> AsyncSession:
            made.append(kind)
            return AsyncSession(engine)

        return make

    app.state.sessionmaker = maker("write")
    app.state.read_sessionmaker = maker("read")
    sessions: AsyncIterator[AsyncSession] = get_session(_Request(method, app))  # type: ignore[arg-type]
    await anext(sessions)
    with pytest.raises(StopAsyncIteration):
        await anext(sessions)
    assert made == [expected]
