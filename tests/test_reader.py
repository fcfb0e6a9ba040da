"""The app's reader (`open_reader`): one read statement on a pooled connection borrowed for it.

It must answer what a `SessionReader` answers for the statements the app gives it (on
PostgreSQL, `AsyncpgReader` runs SQLAlchemy's compiled SQL on its own asyncpg pool, so a type
mismatch would show here), refuse statements whose parameters SQLAlchemy would have to process,
throw away a connection that failed because the database was unavailable (and only then), and
never hand on a connection with a statement still running.

It reads committed data only, so these tests commit their rows and delete them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from sqlalchemy import JSON, bindparam, delete, func, insert, literal_column, select, update
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from energy_api.analytics import service as analytics_service
from energy_api.analytics.queries import mean as mean_queries
from energy_api.analytics.queries.mean import _mean_and_latest
from energy_api.auth import repository as auth_repository
from energy_api.auth.models import Role, User
from energy_api.auth.repository import _ACTIVE_PRINCIPAL
from energy_api.clients.models import Client
from energy_api.config import Settings
from energy_api.consumptions.models import Consumption
from energy_api.db import (
    AnySelect,
    AsyncpgReader,
    Reader,
    SessionReader,
    asyncpg_dsn,
    create_engine,
    is_unavailable,
    open_reader,
)
from energy_api.summaries import service as summaries_service
from tests.conftest import make_settings
from tests.factories import next_cpf

MISSING_ID = 2**31 - 1
BACKEND_PID: AnySelect = select(func.pg_backend_pid().label("pid"))
WAIT_SECONDS = 5.0


class ShortSessionReader:
    """A `SessionReader` over a session of its own for each statement (closed at once, so
    no SQLite transaction stays open to block the clean-up)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        async with AsyncSession(self.engine) as session:
            return await SessionReader(session).first(statement, params)

    async def all(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        async with AsyncSession(self.engine) as session:
            return await SessionReader(session).all(statement, params)


@pytest.fixture
def session_reader(engine: AsyncEngine) -> ShortSessionReader:
    return ShortSessionReader(engine)


@pytest.fixture
async def pool(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Reader]:
    """The reader the app opens in its lifespan."""
    async with open_reader(engine, settings) as reader:
        yield reader


@pytest.fixture
async def committed_client(engine: AsyncEngine) -> AsyncIterator[int]:
    """A client with three months of consumption, committed; deleted afterwards."""
    async with engine.begin() as connection:
        client_id = await connection.scalar(
            insert(Client).values(name="Leitor", document=next_cpf()).returning(Client.id)
        )
        await connection.execute(
            insert(Consumption),
            [
                {"client_id": client_id, "month": date(2025, 1, 1), "kwh": Decimal("10.10")},
                {"client_id": client_id, "month": date(2025, 2, 1), "kwh": Decimal("0.05")},
                {"client_id": client_id, "month": date(2025, 3, 1), "kwh": Decimal("300.00")},
            ],
        )
    assert client_id is not None
    try:
        yield client_id
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(Consumption).where(Consumption.client_id == client_id))
            await connection.execute(delete(Client).where(Client.id == client_id))


@pytest.fixture
async def committed_user(engine: AsyncEngine) -> AsyncIterator[int]:
    """An active editor, committed; deleted afterwards."""
    async with engine.begin() as connection:
        user_id = await connection.scalar(
            insert(User)
            .values(
                username=f"reader-{uuid.uuid4().hex[:12]}",
                password_hash="unused",
                role=Role.editor.value,
            )
            .returning(User.id)
        )
    assert user_id is not None
    try:
        yield user_id
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(User).where(User.id == user_id))


def as_dict(row: Any) -> dict[str, Any]:
    assert row is not None
    return dict(row)


async def test_mean_and_latest_reads_as_through_a_session(
    pool: Reader, session_reader: ShortSessionReader, committed_client: int
) -> None:
    params = {"client_id": committed_client}
    pooled = as_dict(await pool.first(_mean_and_latest(), params))
    assert pooled == as_dict(await session_reader.first(_mean_and_latest(), params))
    row = await mean_queries.mean_and_latest(pool, committed_client)
    assert row == await mean_queries.mean_and_latest(session_reader, committed_client)
    assert row == mean_queries.MeanRow(
        client_exists=True,
        months=3,
        mean=Decimal("103.38"),  # (1010 + 5 + 30000) / 3 = 10338.33… cents
        latest_month=date(2025, 3, 1),
        latest_kwh=Decimal("300.00"),
    )


async def test_mean_and_latest_of_a_missing_client_reads_as_through_a_session(
    pool: Reader, session_reader: ShortSessionReader
) -> None:
    row = await mean_queries.mean_and_latest(pool, MISSING_ID)
    assert row == await mean_queries.mean_and_latest(session_reader, MISSING_ID)
    assert not row.client_exists
    assert row.months == 0


@pytest.fixture
async def client_with_history(engine: AsyncEngine) -> AsyncIterator[int]:
    """A client with 30 months of consumption (one of them far out of line), written through
    the summaries' owner and committed; deleted the same way afterwards."""
    months = [date(2023 + (index // 12), index % 12 + 1, 1) for index in range(30)]
    values = [Decimal(200 + 7 * index) + Decimal("0.35") for index in range(30)]
    values[26] = Decimal("1900.00")
    async with AsyncSession(engine) as session:
        client_id = await session.scalar(
            insert(Client).values(name="Histórico", document=next_cpf()).returning(Client.id)
        )
        assert client_id is not None
        async with summaries_service.changing(session, [(client_id, month) for month in months]):
            await session.execute(
                insert(Consumption),
                [
                    {"client_id": client_id, "month": month, "kwh": kwh}
                    for month, kwh in zip(months, values, strict=True)
                ],
            )
        await session.commit()
    try:
        yield client_id
    finally:
        async with AsyncSession(engine) as session:
            async with summaries_service.forgetting_client(session, client_id):
                await session.execute(delete(Consumption).where(Consumption.client_id == client_id))
                await session.execute(delete(Client).where(Client.id == client_id))
            await session.commit()


ANALYTICS: dict[str, Callable[[Reader, int], Awaitable[Any]]] = {
    "resumo": lambda r, c: analytics_service.summary(r, c, None, None),
    "resumo, range": lambda r, c: analytics_service.summary(
        r, c, date(2023, 3, 1), date(2024, 2, 1)
    ),
    "resumo, portfolio": lambda r, _: analytics_service.summary(r, None, None, None),
    "serie-mensal": lambda r, c: analytics_service.series(r, c, "mes", None, None),
    "serie-mensal, years": lambda r, c: analytics_service.series(r, c, "ano", None, None),
    "serie-mensal, portfolio": lambda r, _: analytics_service.series(
        r, None, "trimestre", date(2023, 1, 1), date(2024, 12, 1)
    ),
    "crescimento": lambda r, c: analytics_service.growth(r, c, None, None),
    "tendencia": lambda r, c: analytics_service.trend(r, c, 12, None, None),
    "anomalias": lambda r, c: analytics_service.anomalies(r, c, None, None, 100),
    "anomalias, portfolio": lambda r, _: analytics_service.anomalies(r, None, None, None, 100),
    "ranking": lambda r, _: analytics_service.ranking(r, None, None, 10),
    "ranking, 12 months": lambda r, _: analytics_service.ranking(
        r, date(2024, 7, 1), date(2025, 6, 1), 10
    ),
    "ranking, other range": lambda r, _: analytics_service.ranking(
        r, date(2023, 2, 1), date(2023, 9, 1), 10
    ),
    "media-consumo": lambda r, c: analytics_service.mean_consumption(r, c),
}


@pytest.mark.parametrize("name", ANALYTICS)
async def test_every_analytics_answer_reads_as_through_a_session(
    pool: Reader, session_reader: ShortSessionReader, client_with_history: int, name: str
) -> None:
    call = ANALYTICS[name]
    answer = await call(pool, client_with_history)
    assert answer == await call(session_reader, client_with_history)
    assert (
        answer.model_dump_json()
        == (await call(session_reader, client_with_history)).model_dump_json()
    )
    if name == "anomalias":
        assert [item.mes for item in answer.itens] == [date(2025, 3, 1)]


async def test_active_principal_reads_as_through_a_session(
    pool: Reader, session_reader: ShortSessionReader, committed_user: int
) -> None:
    params = {"user_id": committed_user}
    pooled = as_dict(await pool.first(_ACTIVE_PRINCIPAL, params))
    assert pooled == as_dict(await session_reader.first(_ACTIVE_PRINCIPAL, params))
    principal = await auth_repository.get_active_principal(pool, committed_user)
    assert principal is not None
    assert principal.id == committed_user
    assert principal.role is Role.editor
    assert principal == await auth_repository.get_active_principal(session_reader, committed_user)


async def test_no_row_is_none(engine: AsyncEngine, pool: Reader, committed_user: int) -> None:
    assert await pool.first(_ACTIVE_PRINCIPAL, {"user_id": MISSING_ID}) is None
    async with engine.begin() as connection:
        await connection.execute(
            update(User).where(User.id == committed_user).values(is_active=False)
        )
    assert await pool.first(_ACTIVE_PRINCIPAL, {"user_id": committed_user}) is None


# ---------------------------------------------------------------------------------------------
# PostgreSQL: asyncpg directly


NEEDS_PROCESSING: dict[str, AnySelect] = {
    "expanding IN": select(User.id).where(User.id.in_(bindparam("ids", expanding=True))),
    "literal IN": select(User.id).where(User.id.in_([1, 2])),
    "bind processor": select(User.id).where(User.username == bindparam("name", type_=JSON)),
}


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.parametrize("kind", list(NEEDS_PROCESSING))
async def test_statement_needing_parameter_processing_is_refused(pool: Reader, kind: str) -> None:
    with pytest.raises(ValueError, match="parameter processing"):
        await pool.first(NEEDS_PROCESSING[kind], {"ids": [1], "name": "x"})
    assert isinstance(pool, AsyncpgReader)
    assert pool.in_use == 0  # refused before borrowing a connection


@asynccontextmanager
async def one_connection_reader(database_url: str, timeout_ms: int) -> AsyncIterator[Reader]:
    """A reader whose pool holds one connection, so a replaced connection shows as a new
    backend pid; statements bounded at `timeout_ms`."""
    settings = make_settings(
        database_url, db_pool_size=1, db_max_overflow=0, db_statement_timeout_ms=timeout_ms
    )
    engine = create_engine(database_url, settings)
    try:
        async with open_reader(engine, settings) as reader:
            yield reader
    finally:
        await engine.dispose()


@pytest.fixture
async def quick_reader(database_url: str, postgres_only: None) -> AsyncIterator[Reader]:
    """Statements time out after 200 ms."""
    async with one_connection_reader(database_url, 200) as reader:
        yield reader


@pytest.fixture
async def patient_reader(database_url: str, postgres_only: None) -> AsyncIterator[Reader]:
    """Statements may run for 30 s (they are stopped by the test long before)."""
    async with one_connection_reader(database_url, 30_000) as reader:
        yield reader


async def backend_pid(pool: Reader) -> int:
    row = await pool.first(BACKEND_PID, {})
    assert row is not None
    pid: int = row["pid"]
    return pid


async def test_statement_timeout_propagates_and_replaces_the_connection(
    quick_reader: Reader,
) -> None:
    pool = quick_reader
    before = await backend_pid(pool)
    with pytest.raises(asyncpg.QueryCanceledError) as raised:
        await pool.first(select(func.pg_sleep(5)), {})
    assert is_unavailable(raised.value)
    assert await backend_pid(pool) != before


async def test_failure_that_is_not_unavailability_keeps_the_connection(
    quick_reader: Reader,
) -> None:
    pool = quick_reader
    before = await backend_pid(pool)
    with pytest.raises(asyncpg.DivisionByZeroError) as raised:
        await pool.first(select((literal_column("1") / literal_column("0")).label("x")), {})
    assert not is_unavailable(raised.value)
    assert await backend_pid(pool) == before


@asynccontextmanager
async def sleeping_read(database_url: str, pool: Reader) -> AsyncIterator[SleepingRead]:
    """A read of `pg_sleep(20)` in a task, once the server runs it (the task is cancelled
    afterwards if the test left it running)."""
    task = asyncio.create_task(pool.first(select(func.pg_sleep(20)), {}))
    try:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while True:
                    pid = await connection.fetchval(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state = 'active' AND query LIKE '%pg_sleep%'"
                        " AND pid <> pg_backend_pid()"
                    )
                    if pid is not None:
                        break
                    await asyncio.sleep(0.01)  # the server's state, polled: no event to await
        finally:
            await connection.close()
        yield SleepingRead(task, int(pid))
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task


@dataclass(frozen=True)
class SleepingRead:
    task: asyncio.Task[Mapping[str, Any] | None]
    pid: int


async def test_backend_terminated_mid_query_propagates_and_replaces_the_connection(
    database_url: str, patient_reader: Reader
) -> None:
    pool = patient_reader
    async with sleeping_read(database_url, pool) as read:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            assert await connection.fetchval("SELECT pg_terminate_backend($1)", read.pid)
        finally:
            await connection.close()
        with pytest.raises(Exception) as raised:  # noqa: PT011 - whichever the driver raises
            await read.task
    assert is_unavailable(raised.value)
    assert await backend_pid(pool) != read.pid


async def test_cancelled_read_leaves_the_pooled_connection_usable(
    database_url: str, patient_reader: Reader
) -> None:
    """A client that goes away mid-read cancels it; the next read must not inherit it."""
    pool = patient_reader
    async with sleeping_read(database_url, pool) as read:
        read.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read.task
    async with asyncio.timeout(WAIT_SECONDS):
        assert await backend_pid(pool) > 0


async def test_waiting_longer_than_the_pool_timeout_for_a_connection_is_unavailability(
    database_url: str, postgres_only: None
) -> None:
    settings = make_settings(database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2)
    engine = create_engine(database_url, settings)
    try:
        async with open_reader(engine, settings) as pool:
            async with sleeping_read(database_url, pool):
                with pytest.raises(PoolTimeoutError) as raised:
                    await pool.first(BACKEND_PID, {})
            assert is_unavailable(raised.value)
            assert await backend_pid(pool) > 0  # the held connection came back
    finally:
        await engine.dispose()
