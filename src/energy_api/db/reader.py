"""Single-statement reads without a session: `Reader`, over a session or over a pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol, cast, runtime_checkable

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import Result, Row, Select
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from energy_api.config import Settings
from energy_api.db.engine import COMMAND_TIMEOUT_MARGIN_SECONDS, asyncpg_dsn
from energy_api.db.errors import is_unavailable
from energy_api.observability.metrics import DB_POOL_CHECKOUTS, DB_POOL_IN_USE

AnySelect = Select[*tuple[Any, ...]]


class Reader(Protocol):
    """Runs one read statement and returns its rows by column name.

    For requests that only read, each statement on its own (authentication, analytics): no
    session, no transaction and no request-long connection; each statement borrows a pooled
    connection for its own duration, as an autocommit read would see the data anyway.
    """

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """The statement's first row, or None."""
        ...

    async def all(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        """Every row of the statement (for results of a page or a series, not exports)."""
        ...


@runtime_checkable
class StreamReader(Reader, Protocol):
    """A `Reader` that can also stream a large result (CSV exports)."""

    def stream(
        self, statement: AnySelect, params: Mapping[str, Any], *, chunk_rows: int
    ) -> AsyncIterator[Sequence[Row[Any]]]:
        """The statement's rows, `chunk_rows` at a time, from a server-side cursor (constant
        memory, however many rows); the connection is held until the iterator ends."""
        ...


class SessionReader:
    """A `Reader` over a session's connection: it sees the session's uncommitted work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        connection = await self.session.connection()
        return _mapping((await connection.execute(statement, dict(params))).first())

    async def all(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        connection = await self.session.connection()
        return _mappings(await connection.execute(statement, dict(params)))

    async def stream(
        self, statement: AnySelect, params: Mapping[str, Any], *, chunk_rows: int
    ) -> AsyncIterator[Sequence[Row[Any]]]:
        connection = await self.session.connection()
        async for chunk in _chunks(connection, statement, params, chunk_rows):
            yield chunk


async def _chunks(
    connection: AsyncConnection, statement: AnySelect, params: Mapping[str, Any], rows: int
) -> AsyncIterator[Sequence[Row[Any]]]:
    result = await connection.stream(statement.execution_options(yield_per=rows), dict(params))
    try:
        async for partition in result.partitions(rows):
            yield partition
    finally:
        await result.close()


def _mapping(row: Row[Any] | None) -> Mapping[str, Any] | None:
    return None if row is None else cast(Mapping[str, Any], row._mapping)


def _mappings(result: Result[Any]) -> Sequence[Mapping[str, Any]]:
    return cast(Sequence[Mapping[str, Any]], result.mappings().all())


class PoolReader:
    """A `Reader` over the engine's pool, for SQLite: each statement borrows a connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        async with self._engine.connect() as connection:
            return _mapping((await connection.execute(statement, dict(params))).first())

    async def all(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        async with self._engine.connect() as connection:
            return _mappings(await connection.execute(statement, dict(params)))

    async def stream(
        self, statement: AnySelect, params: Mapping[str, Any], *, chunk_rows: int
    ) -> AsyncIterator[Sequence[Row[Any]]]:
        async for chunk in _engine_stream(self._engine, statement, params, chunk_rows):
            yield chunk


async def _engine_stream(
    engine: AsyncEngine, statement: AnySelect, params: Mapping[str, Any], rows: int
) -> AsyncIterator[Sequence[Row[Any]]]:
    """A stream on a connection of the engine's own, in a transaction (server-side cursors
    live in one), rolled back at the end: it only reads."""
    async with engine.connect() as connection:
        try:
            async for chunk in _chunks(connection, statement, params, rows):
                yield chunk
        finally:
            await connection.rollback()


async def _keep(_: asyncpg.Connection) -> None:
    """A check-in that leaves the connection as it is (see `AsyncpgReader`)."""


class AsyncpgReader:
    """A `Reader` for PostgreSQL: a plain asyncpg pool of its own, each statement in autocommit.

    The hottest routes (authentication, the analytics) are one or two indexed reads each, so
    what lies between the request and those statements is much of their cost. Here a read is
    one asyncpg acquire, one `fetchrow` or `fetch` of SQL that SQLAlchemy compiled once (so the
    repositories still write `select()`), one release:
    - no SQLAlchemy pool, its events and its connection wrappers;
    - no reset on check-in. asyncpg's default (`RESET ALL`, `UNLISTEN *`, `CLOSE ALL`,
      advisory unlock) is a round trip per read, and clears nothing these connections can
      hold: they run single autocommit SELECTs, never `SET`, `LISTEN`, a cursor or a lock.
      asyncpg still waits for a cancelled statement's cancellation before reusing the
      connection.
    That path applies no type processing, so it takes only statements whose parameters need
    none (checked when compiling) and returns what asyncpg returns (int, Decimal, date, …).
    A connection that failed as `is_unavailable` (a statement timeout, a dropped backend) is
    closed, so the pool opens a new one. Its size is `DB_POOL_SIZE`, besides the engine's.
    """

    def __init__(
        self, pool: asyncpg.Pool, engine: AsyncEngine, *, size: int, acquire_timeout: float
    ) -> None:
        self._pool = pool
        self._size = size
        # Connections from `acquire` until their `release` has returned: while fewer than
        # `size`, the pool has one idle or may open one (within its connect timeout), so an
        # acquire cannot wait for another request. Counted here: asking the pool walks it.
        self._borrowed = 0
        self._engine = engine  # for streams (CSV exports): see `stream`
        self._dialect = engine.dialect
        self._acquire_timeout = acquire_timeout
        self._compiled: dict[AnySelect, tuple[str, tuple[str, ...], SQLCompiler]] = {}

    @classmethod
    async def open(cls, engine: AsyncEngine, settings: Settings) -> AsyncpgReader:
        url = engine.url.render_as_string(hide_password=False)
        timeout_ms = settings.db_statement_timeout_ms
        server_settings = {"application_name": "energy-api"}
        pooler: dict[str, Any] = {}
        if settings.database_pooler == "transaction":
            # Behind a transaction pooler (see `db.engine`): no named prepared statement, no
            # start-up setting; the role's statement_timeout applies to these reads.
            pooler["statement_cache_size"] = 0
        else:
            server_settings["statement_timeout"] = str(timeout_ms)
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url),
            min_size=0,
            max_size=settings.db_pool_size,
            timeout=settings.db_connect_timeout,
            command_timeout=(
                timeout_ms / 1000 + COMMAND_TIMEOUT_MARGIN_SECONDS if timeout_ms else None
            ),
            server_settings=server_settings,
            reset=_keep,
            **pooler,
        )
        return cls(
            pool, engine, size=settings.db_pool_size, acquire_timeout=settings.db_pool_timeout
        )

    async def close(self) -> None:
        await self._pool.close()

    @property
    def in_use(self) -> int:
        """Connections borrowed right now."""
        in_use: int = self._pool.get_size() - self._pool.get_idle_size()
        return in_use

    def _compile(self, statement: AnySelect) -> tuple[str, tuple[str, ...], SQLCompiler]:
        known = self._compiled.get(statement)
        if known is None:
            compiled = statement.compile(dialect=self._dialect)
            if getattr(compiled, "_bind_processors", None) or "POSTCOMPILE" in compiled.string:
                raise ValueError("statement needs SQLAlchemy's parameter processing")
            known = (compiled.string, tuple(compiled.positiontup or ()), compiled)
            self._compiled[statement] = known
        return known

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        record = await self._fetch(statement, params, every_row=False)
        # asyncpg's Record indexes by name but iterates values: a real mapping instead.
        return None if record is None else dict(record.items())

    async def all(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        records = await self._fetch(statement, params, every_row=True)
        return [dict(record.items()) for record in records]

    async def _fetch(
        self, statement: AnySelect, params: Mapping[str, Any], *, every_row: bool
    ) -> Any:
        """`fetch` or `fetchrow` on a borrowed connection (a plain method, not a context
        manager: on the hot path a generator-based one costs more than the rest of this)."""
        sql, names, compiled = self._compile(statement)
        values = compiled.construct_params(params) if names else {}
        arguments = [values[name] for name in names]
        if self._borrowed < self._size:
            connection = await self._pool.acquire()  # one is free: no wait to bound
        else:
            try:
                # `asyncio.timeout`, not `acquire(timeout=…)`, which waits in a task of its own.
                async with asyncio.timeout(self._acquire_timeout):
                    connection = await self._pool.acquire()
            except TimeoutError:
                # As the engine's pool says it (a 503, counted as a pool timeout).
                raise PoolTimeoutError(
                    f"no pooled connection free within {self._acquire_timeout} s"
                ) from None
        self._borrowed += 1
        DB_POOL_IN_USE.inc()
        DB_POOL_CHECKOUTS.inc()
        try:
            if every_row:
                return await connection.fetch(sql, *arguments)
            return await connection.fetchrow(sql, *arguments)
        except Exception as exc:
            if is_unavailable(exc):
                # Unless asyncpg already let it go with its dead backend.
                with contextlib.suppress(asyncpg.InterfaceError):
                    connection.terminate()
            raise
        finally:
            DB_POOL_IN_USE.dec()
            try:
                await self._pool.release(connection)
            finally:
                self._borrowed -= 1

    async def stream(
        self, statement: AnySelect, params: Mapping[str, Any], *, chunk_rows: int
    ) -> AsyncIterator[Sequence[Row[Any]]]:
        """Large results go through SQLAlchemy (its type processing, a server-side cursor in a
        transaction on one of the engine's connections): the per-row cost dominates there,
        not the per-request one."""
        async for chunk in _engine_stream(self._engine, statement, params, chunk_rows):
            yield chunk


@asynccontextmanager
async def open_reader(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Reader]:
    """The process's `Reader`: `AsyncpgReader` on PostgreSQL, `PoolReader` otherwise."""
    if engine.dialect.name != "postgresql":
        yield PoolReader(engine)
        return
    reader = await AsyncpgReader.open(engine, settings)
    try:
        yield reader
    finally:
        await reader.close()


async def get_reader(request: Request) -> Reader:
    reader: Reader = request.app.state.reader
    return reader


ReaderDep = Annotated[Reader, Depends(get_reader)]


async def get_replica_reader(request: Request) -> Reader:
    """A `Reader` on the replica (DATABASE_READ_URL) when there is one, else the primary's."""
    reader: Reader = request.app.state.replica_reader
    return reader


ReplicaReaderDep = Annotated[Reader, Depends(get_replica_reader)]


async def get_stream_reader(reader: ReplicaReaderDep) -> StreamReader:
    """The replica's reader (exports are list reads), for streaming."""
    if not isinstance(reader, StreamReader):  # pragma: no cover - both readers stream
        raise TypeError(f"{type(reader).__name__} cannot stream")
    return reader


StreamReaderDep = Annotated[StreamReader, Depends(get_stream_reader)]
