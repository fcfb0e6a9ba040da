"""Engine, session and declarative base.

The engine and sessionmaker are built in the app's lifespan (`create_engine_from_settings`) and
kept on `app.state`; each request gets one `AsyncSession`, committed by `get_session` after the
endpoint returns and before the response is sent, or rolled back when it raises.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol, cast

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData, Row, Select, UniqueConstraint, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler

from energy_api.config import Settings

logger = logging.getLogger(__name__)

# How long a failed request may spend rolling back before its connection is thrown away.
ROLLBACK_TIMEOUT_SECONDS = 2.0
# Client-side bound on one statement, past the server's statement_timeout, for a server that
# stopped answering without closing the connection.
COMMAND_TIMEOUT_MARGIN_SECONDS = 2.0
# A connection idle in the pool for longer than this is pinged before use (see create_engine).
PING_IF_IDLE_SECONDS = 1.0
_CHECKED_IN_AT = "energy_api_checked_in_at"
# SQLSTATEs that mean "the database is not available now", not "the request is wrong":
# class 08 (connection exception), admin/crash shutdown, starting up, too many connections,
# and statement_timeout (57014).
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "57014"})
# SQLSTATEs for text PostgreSQL cannot store (NUL, characters outside the encoding).
UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # Let SQLAlchemy drive transactions (so SAVEPOINT works) and enforce foreign keys.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def create_engine(url: str, settings: Settings, *, for_migrations: bool = False) -> AsyncEngine:
    """One engine per process; SQLite and PostgreSQL each get the options that suit them.

    Migrations get no pool and no statement timeout (building an index may take a while).
    """
    backend = make_url(url).get_backend_name()
    options: dict[str, Any] = {}
    if for_migrations:
        options["poolclass"] = NullPool
    elif backend != "sqlite":
        options.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )
    if backend == "postgresql":
        timeout_ms = 0 if for_migrations else settings.db_statement_timeout_ms
        connect_args: dict[str, Any] = {
            "timeout": settings.db_connect_timeout,
            "server_settings": {
                "application_name": "energy-api",
                "statement_timeout": str(timeout_ms),
            },
        }
        if timeout_ms:
            connect_args["command_timeout"] = timeout_ms / 1000 + COMMAND_TIMEOUT_MARGIN_SECONDS
        options["connect_args"] = connect_args
    engine = create_async_engine(url, **options)
    if backend != "sqlite" and not for_migrations:
        _ping_connections_that_were_idle(engine)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def asyncpg_dsn(url: str) -> str:
    """The `postgresql://` DSN asyncpg itself takes, for a `postgresql+asyncpg://` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _ping_connections_that_were_idle(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling, paid only where it can help.

    A connection that waited in the pool longer than `PING_IF_IDLE_SECONDS` (the database may
    have restarted meanwhile) is pinged on checkout and replaced when dead, as `pool_pre_ping`
    would do; one that was in use a moment ago skips the round trip. If the database goes away
    mid-burst, the statement fails instead, the pool is invalidated, and the request gets a 503.
    """
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _note_checkin(_: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(
        dbapi_connection: Any, record: ConnectionPoolEntry, _: PoolProxiedConnection
    ) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is not None and time.monotonic() - checked_in_at < PING_IF_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("connection failed its ping") from exc


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
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


READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for GET/HEAD (see `get_session`): the same pool, no transaction around the
    reads on PostgreSQL. SQLite keeps its transactions (its BEGIN is issued by `_sqlite_begin`)."""
    if engine.dialect.name == "sqlite":
        return create_sessionmaker(engine)
    return create_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session, committed before the response leaves (`request_transaction`).

    GET and HEAD write nothing, so their session runs in autocommit: no BEGIN and COMMIT round
    trips around a request's reads.
    """
    if request.method in READ_ONLY_METHODS:
        sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.read_sessionmaker
    else:
        sessionmaker = request.app.state.sessionmaker
    session = sessionmaker()
    try:
        async with request_transaction(session):
            yield session
    finally:
        await session.close()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


# ---------------------------------------------------------------------------------------------
# Single-statement reads

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


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>.+)$")


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError violated, on PostgreSQL and SQLite.

    asyncpg reports the name itself. SQLite reports the columns of a unique constraint, which are
    matched against the metadata's named constraints, and only "FOREIGN KEY constraint failed".
    """
    cause = getattr(exc.orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None)
    if isinstance(name, str):
        return name
    message = str(exc.orig)
    if match := _SQLITE_UNIQUE.search(message):
        columns = [c.strip() for c in match.group("cols").split(",")]
        table = columns[0].split(".")[0]
        wanted = {c.split(".")[1] for c in columns}
        for constraint in Base.metadata.tables[table].constraints:
            if (
                isinstance(constraint, UniqueConstraint)
                and {c.name for c in constraint.columns} == wanted
                and constraint.name
            ):
                return str(constraint.name)
    if "FOREIGN KEY constraint failed" in message:
        return "foreign_key"
    return None


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, bare or wrapped by SQLAlchemy (`orig` and its cause)."""
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None), exc.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached or used now (503), at any layer.

    Covers the pool (checkout timeout), SQLAlchemy (invalidated connections, InterfaceError),
    asyncpg (connection errors, shutdown, statement timeout) and the OS (refused, reset, timed out).
    """
    if isinstance(exc, PoolTimeoutError | InterfaceError | OSError):  # OSError: refused, timeout
        return True
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc.orig, OSError)
    ):
        return True
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return True
    sqlstate = _sqlstate(exc)
    return sqlstate is not None and (sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES)


def is_unstorable_text(exc: BaseException) -> bool:
    """Whether the database refused a text value it cannot store (e.g. NUL in PostgreSQL)."""
    return _sqlstate(exc) in UNSTORABLE_TEXT_SQLSTATES
