"""The request's session and the one place that commits it.

The sessionmakers are built in the app's lifespan and kept on `app.state`; each request gets one
`AsyncSession`, committed by `get_session` after the endpoint returns and before the response is
sent, or rolled back when it raises. Services and repositories flush, never commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from energy_api.db.engine import COMMAND_TIMEOUT_MARGIN_SECONDS, SQLITE_IMMEDIATE

logger = logging.getLogger(__name__)

# How long a failed request may spend rolling back before its connection is thrown away.
ROLLBACK_TIMEOUT_SECONDS = 2.0
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


@asynccontextmanager
async def longer_statements(session: AsyncSession, timeout_ms: int) -> AsyncIterator[None]:
    """Let the statements of this block run up to `timeout_ms` (0: no limit) on PostgreSQL,
    for the few transactions that legitimately run long ones (bulk loads, imports).

    The server's `statement_timeout` is raised with SET LOCAL (it returns to the connection's
    own when the transaction ends); the driver's client-side bound (asyncpg's command timeout,
    set per connection by `create_engine`) is raised for the block and restored after it.
    """
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    await connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
    driver = (await connection.get_raw_connection()).driver_connection
    # asyncpg keeps the command timeout in its connection's configuration tuple only.
    config = driver._config  # type: ignore[union-attr]
    bound = None if timeout_ms == 0 else timeout_ms / 1000 + COMMAND_TIMEOUT_MARGIN_SECONDS
    driver._config = config._replace(command_timeout=bound)  # type: ignore[union-attr]
    try:
        yield
    finally:
        driver._config = config  # type: ignore[union-attr]


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for work that writes. On SQLite their transactions take the write lock as
    they begin, so concurrent writers queue instead of failing to upgrade a read lock."""
    bind = engine.execution_options(**{SQLITE_IMMEDIATE: True})
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for GET/HEAD (see `get_session`): the same pool, no transaction around the
    reads on PostgreSQL. SQLite keeps its (deferred, read-only) transactions."""
    if engine.dialect.name != "sqlite":
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def discard(session: AsyncSession) -> None:
    """Roll back after a failure without hanging or raising a second error.

    When the connection is already dead the rollback fails (or never answers); the connection is
    then invalidated, so the pool replaces it, and the original error is the one reported.
    """
    try:
        async with asyncio.timeout(ROLLBACK_TIMEOUT_SECONDS):
            await session.rollback()
    except Exception as exc:
        logger.warning("rollback failed, discarding the connection: %r", exc)
        try:
            await session.invalidate()
        except Exception as invalidate_exc:
            logger.warning("could not invalidate the connection: %r", invalidate_exc)


class KeepsWork:
    """Marks an error whose writes are part of the answer (a failed login counted, a token
    family revoked): the request boundary commits them before the error is rendered."""


@asynccontextmanager
async def request_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Commit the request's work when it succeeds, roll it back when it fails (unless the
    error `KeepsWork`)."""
    try:
        yield session
    except BaseException as exc:
        if isinstance(exc, KeepsWork):
            await _commit(session)
        else:
            await discard(session)
        raise
    else:
        await _commit(session)


async def _commit(session: AsyncSession) -> None:
    try:
        await session.commit()
    except BaseException:
        await discard(session)
        raise


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session, committed before the response leaves (`request_transaction`).

    GET and HEAD write nothing, so their session runs in autocommit: no BEGIN and COMMIT round
    trips around a request's reads.
    """
    if request.method in READ_ONLY_METHODS:
        sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.read_sessionmaker
    else:
        sessionmaker = request.app.state.sessionmaker
    async with _request_session(sessionmaker) as session:
        yield session


@asynccontextmanager
async def _request_session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A new session of `sessionmaker` in the request's transaction, closed afterwards."""
    session = sessionmaker()
    try:
        async with request_transaction(session):
            yield session
    finally:
        await session.close()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_replica_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for reads that may lag (analytics, lists): on DATABASE_READ_URL's replica when
    one is configured, else as `get_session`'s reads. Only for routes that write nothing and
    need not see the caller's own latest write."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.replica_sessionmaker
    async with _request_session(sessionmaker) as session:
        yield session


ReplicaSessionDep = Annotated[AsyncSession, Depends(get_replica_session, scope="function")]
