"""The engine: one per process, built in the app's lifespan with the options each backend needs.

PostgreSQL connections carry a server-side `statement_timeout` (and a client-side bound a little
past it), and a connection that sat idle in the pool is pinged before use. SQLite runs in WAL
mode, so readers never wait for the writer; writing transactions take the write lock when they
begin (`BEGIN IMMEDIATE`), so two writers never deadlock upgrading a read lock, and wait their
turn for up to the busy timeout, after which the request is answered 503.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection

from energy_api.config import Settings
from energy_api.observability.metrics import DB_POOL_CHECKOUTS, DB_POOL_IN_USE

# Client-side bound on one statement, past the server's statement_timeout, for a server that
# stopped answering without closing the connection.
COMMAND_TIMEOUT_MARGIN_SECONDS = 2.0
# A connection idle in the pool for longer than this is pinged before use (see create_engine).
PING_IF_IDLE_SECONDS = 1.0
_CHECKED_IN_AT = "energy_api_checked_in_at"
# Behind a transaction pooler (PgBouncer pool_mode=transaction) a server connection serves
# another client after every transaction, so nothing prepared may outlive one: asyncpg keeps no
# statement cache, and SQLAlchemy's statements use the unnamed prepared statement, which asyncpg
# then parses, binds and runs in one round trip and the next statement replaces.
TRANSACTION_POOLER_CONNECT_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": lambda: "",
}
# URL query options of SQLAlchemy's asyncpg dialect, which asyncpg.connect does not take.
SQLALCHEMY_ONLY_OPTIONS = frozenset(
    {"prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback"}
)
# The execution option that makes a SQLite transaction take the write lock when it begins.
SQLITE_IMMEDIATE = "energy_api_sqlite_immediate"


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
    pooled = settings.database_pooler == "transaction"
    timeout_ms = 0
    if backend == "postgresql":
        timeout_ms = 0 if for_migrations else settings.db_statement_timeout_ms
        options["connect_args"] = postgres_connect_args(settings, timeout_ms)
    engine = create_async_engine(url, **options)
    if backend == "postgresql" and pooled and timeout_ms:
        _statement_timeout_per_transaction(engine, timeout_ms)
    if backend != "sqlite" and not for_migrations:
        _ping_connections_that_were_idle(engine)
        _count_pool_use(engine)
    if backend == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms=int(settings.db_pool_timeout * 1000))
    return engine


def postgres_connect_args(settings: Settings, timeout_ms: int) -> dict[str, Any]:
    """What asyncpg's connect gets: the timeout as a connection setting, unless a transaction
    pooler is in front (it refuses start-up settings; see `_statement_timeout_per_transaction`),
    where no statement may be prepared or cached past its transaction either."""
    pooled = settings.database_pooler == "transaction"
    server_settings = {"application_name": "energy-api"}
    if not pooled:
        server_settings["statement_timeout"] = str(timeout_ms)
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout,
        "server_settings": server_settings,
    }
    if pooled:
        connect_args.update(TRANSACTION_POOLER_CONNECT_ARGS)
    if timeout_ms:
        connect_args["command_timeout"] = timeout_ms / 1000 + COMMAND_TIMEOUT_MARGIN_SECONDS
    return connect_args


def _statement_timeout_per_transaction(engine: AsyncEngine, timeout_ms: int) -> None:
    """Behind a transaction pooler a connection's settings would leak to whoever gets its
    server next (and PgBouncer refuses them at start-up), so every transaction sets its own
    timeout with SET LOCAL. Reads outside a transaction (autocommit) keep the server's or the
    role's default: set `statement_timeout` on the role too (ALTER ROLE … SET)."""
    statement = f"SET LOCAL statement_timeout = {int(timeout_ms):d}"

    @event.listens_for(engine.sync_engine, "begin")
    def _set_timeout(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql(statement)


def _count_pool_use(engine: AsyncEngine) -> None:
    """The pool's connections in use, for /metrics."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(*_: Any) -> None:
        DB_POOL_IN_USE.inc()
        DB_POOL_CHECKOUTS.inc()

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(*_: Any) -> None:
        DB_POOL_IN_USE.dec()


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _: Any) -> None:
        # SQLAlchemy drives the transactions (so SAVEPOINT works, and BEGIN IMMEDIATE below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cursor.execute("PRAGMA journal_mode=WAL")  # kept by the file; ignored in memory
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe in WAL
        cursor.close()
        # Case-insensitive search for every letter (SQLite's own lower() and LIKE fold ASCII).
        dbapi_connection.create_function("casefold", 1, _casefold, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _casefold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def asyncpg_dsn(url: str) -> str:
    """The `postgresql://` DSN asyncpg itself takes, for a `postgresql+asyncpg://` URL.

    Query options that only SQLAlchemy's dialect understands are dropped: asyncpg would take
    them for server settings, and the server refuses them."""
    parsed = make_url(url)
    parsed = parsed.difference_update_query(
        [name for name in parsed.query if name in SQLALCHEMY_ONLY_OPTIONS]
    )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


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
