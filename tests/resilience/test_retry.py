"""A request whose transaction the database gives up on (deadlock victim, serialization failure)
is run again, from a new transaction; after the last attempt the answer is a 503, never a 500."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import Role
from energy_api.consumptions import service as consumptions_service
from energy_api.consumptions.models import Consumption
from energy_api.db import create_engine, create_sessionmaker
from energy_api.http.routing import MAX_ATTEMPTS
from energy_api.idempotency.repository import _lock_id
from tests.conftest import access_token, make_settings
from tests.factories import create_client, next_cpf
from tests.resilience.conftest import OwnDatabase, add_committed_user, running_app

KEY = "retry-key"


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def failing(times: int, sqlstate: str) -> tuple[Any, list[int]]:
    """`consumptions.service.create` failing with `sqlstate` on its first `times` calls."""
    real = consumptions_service.create
    calls: list[int] = []

    async def create(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            raise DBAPIError("INSERT …", {}, _DriverError(sqlstate))
        return await real(*args, **kwargs)

    return create, calls


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_retryable_failure_runs_the_request_again(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    sqlstate: str,
) -> None:
    customer = await create_client(db_session)
    create, calls = failing(MAX_ATTEMPTS - 1, sqlstate)
    monkeypatch.setattr(consumptions_service, "create", create)

    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 1},
        headers=editor_headers,
    )

    assert response.status_code == 201, response.text
    assert len(calls) == MAX_ATTEMPTS
    rows = await db_session.scalar(select(func.count()).where(Consumption.client_id == customer.id))
    assert rows == 1


async def test_when_every_attempt_fails_the_answer_is_503(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer = await create_client(db_session)
    create, calls = failing(MAX_ATTEMPTS, "40P01")
    monkeypatch.setattr(consumptions_service, "create", create)

    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 1},
        headers=editor_headers,
    )

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert len(calls) == MAX_ATTEMPTS


async def test_other_database_errors_are_not_retried(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer = await create_client(db_session)
    create, calls = failing(1, "57014")  # statement timeout: a 503 at once
    monkeypatch.setattr(consumptions_service, "create", create)

    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 1},
        headers=editor_headers,
    )

    assert (response.status_code, len(calls)) == (503, 1)


async def _waiting_for_a_lock(dsn: str) -> None:
    """Until a connection of the service waits for a row lock."""
    watcher = await asyncpg.connect(dsn)
    try:
        async with asyncio.timeout(10):
            while True:  # another server's state: polled, there is nothing to await
                waiting = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = 'energy-api' AND wait_event_type = 'Lock'"
                )
                if waiting:
                    return
                await asyncio.sleep(0.02)
    finally:
        await watcher.close()


async def test_a_real_deadlock_is_retried_and_the_write_lands_once(
    postgres_only: None, own_database: OwnDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """The request holds its Idempotency-Key lock and waits for the client's row, which another
    transaction holds while it asks for the same key: a cycle. PostgreSQL breaks it by failing
    the request's transaction (the other waits 10 s before it would look), and the request runs
    again once the other has let go."""
    url = own_database.url
    settings = make_settings(url)
    editor = await add_committed_user(url, Role.editor)
    engine = create_engine(url, settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            customer = await create_client(session, documento=next_cpf())
    finally:
        await engine.dispose()
    other = await asyncpg.connect(own_database.dsn)
    headers = {"Authorization": f"Bearer {access_token(settings, editor)}", "Idempotency-Key": KEY}
    caplog.set_level(logging.INFO, logger="energy_api.http.routing")
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SET LOCAL deadlock_timeout = '10s'")
        await other.execute("SELECT id FROM clients WHERE id = $1 FOR UPDATE", customer.id)
        async with running_app(settings) as http:
            request = asyncio.create_task(
                http.post(
                    "/api/v1/consumos/",
                    json={"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 7},
                    headers=headers,
                )
            )
            await _waiting_for_a_lock(own_database.dsn)
            await other.execute("SELECT pg_advisory_xact_lock($1)", _lock_id(editor.id, KEY))
            await transaction.rollback()
            async with asyncio.timeout(10):
                response = await request
        rows = await other.fetchval(
            "SELECT count(*) FROM consumptions WHERE client_id = $1", customer.id
        )
    finally:
        await other.close()

    assert response.status_code == 201, response.text
    assert rows == 1
    assert any("retrying POST /api/v1/consumos/" in r.getMessage() for r in caplog.records)
