"""Simultaneous POSTs of one client and month: the database's unique constraint decides.

This test commits for real (each request through the app's own sessionmaker), so it builds its
own app and engine and deletes what it created afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energy_api.auth.models import Role, User
from energy_api.clients import service as clients_service
from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.main import create_app
from tests.conftest import access_token, add_user, make_settings
from tests.factories import next_cpf

REQUESTS = 20


@dataclass
class Committed:
    http: AsyncClient
    sessionmaker: async_sessionmaker[AsyncSession]
    client_id: int
    headers: dict[str, str]


@pytest.fixture
async def committed(
    postgres_only: None, database_url: str, password_hash: str
) -> AsyncIterator[Committed]:
    settings = make_settings(database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
        async with sessionmaker() as session, session.begin():
            customer = Client(name="Concorrente", document=next_cpf())
            session.add(customer)
            user = await add_user(
                session,
                password_hash,
                username=f"editor-{uuid.uuid4().hex[:8]}",
                role=Role.editor,
            )
        headers = {"Authorization": f"Bearer {access_token(settings, user)}"}
        try:
            async with AsyncClient(
                transport=ASGITransport(app=app), base_url="http://test"
            ) as http:
                yield Committed(http, sessionmaker, customer.id, headers)
        finally:
            async with sessionmaker() as session, session.begin():
                # Through the service: the client's records leave the portfolio summaries too.
                await clients_service.delete(session, customer.id)
                await session.execute(delete(User).where(User.id == user.id))


async def test_simultaneous_posts_of_one_month_give_one_201_and_409s(
    committed: Committed,
) -> None:
    body = {"cliente": committed.client_id, "mes": "2026-02", "consumo_kwh": 350.5}

    async def post() -> int:
        response = await committed.http.post(
            "/api/v1/consumos/", json=body, headers=committed.headers
        )
        return response.status_code

    statuses = await asyncio.gather(*(post() for _ in range(REQUESTS)))

    assert Counter(statuses) == {201: 1, 409: REQUESTS - 1}
    async with committed.sessionmaker() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(Consumption)
            .where(Consumption.client_id == committed.client_id)
        )
    assert rows == 1
