"""Single-statement reads without a session: `Reader`, over a session or over the pool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Protocol, cast

from fastapi import Depends, Request
from sqlalchemy import Row, Select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from energy_api.db.errors import is_unavailable

AnySelect = Select[*tuple[Any, ...]]


class Reader(Protocol):
    """Runs one read statement and returns its first row by column name, or None.

    For requests whose reads are each one statement (authentication, `media-consumo`): no
    session, no transaction and no request-long connection; each statement borrows a pooled
    connection for its own duration.
    """

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None: ...


class SessionReader:
    """A `Reader` over a session's connection: it sees the session's uncommitted work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        connection = await self.session.connection()
        return _mapping((await connection.execute(statement, dict(params))).first())


def _mapping(row: Row[Any] | None) -> Mapping[str, Any] | None:
    return None if row is None else cast(Mapping[str, Any], row._mapping)


class PoolReader:
    """A `Reader` that borrows a pooled connection per statement, in autocommit.

    On PostgreSQL the statement, compiled once by SQLAlchemy, runs on the asyncpg connection
    itself: SQLAlchemy's execution layer costs more than the query on the hottest routes.
    That path applies no type processing, so it takes only statements whose parameters need
    none (checked when compiling) and returns what asyncpg returns (int, Decimal, date, …).
    A connection that failed as `is_unavailable` is invalidated, so the pool replaces it.
    SQLite statements go through SQLAlchemy as usual.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._native = engine.dialect.name == "postgresql"
        self._engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self._native else engine
        )
        self._compiled: dict[AnySelect, SQLCompiler] = {}

    def _compile(self, statement: AnySelect) -> SQLCompiler:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = statement.compile(dialect=self._engine.dialect)
            if getattr(compiled, "_bind_processors", None) or "POSTCOMPILE" in compiled.string:
                raise ValueError("statement needs SQLAlchemy's parameter processing")
            self._compiled[statement] = compiled
        return compiled

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        async with self._engine.connect() as connection:
            if not self._native:
                return _mapping((await connection.execute(statement, dict(params))).first())
            compiled = self._compile(statement)
            values = compiled.construct_params(params)
            positional = [values[name] for name in compiled.positiontup or ()]
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            try:
                record = await driver.fetchrow(compiled.string, *positional)
            except Exception as exc:
                if is_unavailable(exc):
                    await connection.invalidate()
                raise
            # asyncpg's Record indexes by name but iterates values: a real mapping instead.
            return None if record is None else dict(record.items())


async def get_reader(request: Request) -> Reader:
    reader: Reader = request.app.state.reader
    return reader


ReaderDep = Annotated[Reader, Depends(get_reader)]


async def get_replica_reader(request: Request) -> Reader:
    """A `Reader` on the replica (DATABASE_READ_URL) when there is one, else the primary's."""
    reader: Reader = request.app.state.replica_reader
    return reader


ReplicaReaderDep = Annotated[Reader, Depends(get_replica_reader)]
