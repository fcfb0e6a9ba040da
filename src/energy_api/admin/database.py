"""The admin's sessions: reads from the app's read sessionmaker, each write in one transaction.

sqladmin asks its `session_maker` for a session whenever it reads (lists, details, the object
being edited). `AppSessions` hands it a session of the running app's read sessionmaker, which
the app's lifespan builds (the admin is mounted before there is an engine).

Writes never go through sqladmin's own ORM code: `write` opens a session of the app's
sessionmaker, runs the service call, and commits once (`db.request_transaction`), retrying
the whole transaction on a deadlock or serialization failure as API routes do.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from energy_api.db import request_transaction
from energy_api.http.routing import BASE_PAUSE_SECONDS, MAX_ATTEMPTS, should_retry

logger = logging.getLogger(__name__)

T = TypeVar("T")


class AppSessions(async_sessionmaker[AsyncSession]):
    """A sessionmaker whose sessions come from the app's read sessionmaker, found at call time
    (`app.state.read_sessionmaker`)."""

    def __init__(self, app: Starlette) -> None:
        super().__init__()
        self._app = app

    def __call__(self, **local_kw: Any) -> AsyncSession:
        read: async_sessionmaker[AsyncSession] = self._app.state.read_sessionmaker
        return read(**local_kw)


async def write(app: Starlette, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction of the app's sessionmaker and commit once; deadlocks and
    serialization failures run it again from the start (`energy_api.http.routing`)."""
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with sessionmaker() as session, request_transaction(session):
                return await work(session)
        except Exception as exc:
            if attempt == MAX_ATTEMPTS or not should_retry(exc):
                raise
            logger.info("retrying an admin write (attempt %d failed: %r)", attempt, exc)
            pause = BASE_PAUSE_SECONDS * 2 ** (attempt - 1)
            await asyncio.sleep(random.uniform(0, pause))  # noqa: S311 - jitter
    raise AssertionError("unreachable")  # pragma: no cover


async def read(app: Starlette, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` with a session of the app's read sessionmaker."""
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.read_sessionmaker
    async with sessionmaker() as session:
        return await work(session)
