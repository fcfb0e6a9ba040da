"""Concurrent writers for one client (PostgreSQL): the summaries still match the records.

The writes commit for real, through their own engine, in months no other test uses; the
fixture takes the client out of the summaries and deletes it afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energy_api.clients import service as clients_service
from energy_api.clients.models import Client
from energy_api.config import Settings
from energy_api.consumptions import service as consumptions_service
from energy_api.consumptions.models import Consumption
from energy_api.db import create_engine, create_sessionmaker
from energy_api.summaries import service as summaries_service
from energy_api.summaries.models import FlaggedMonth
from tests.analytics.support import flagged_rows, month, snapshot
from tests.factories import next_cpf

FAR_MONTHS = [f"2091-{number:02d}" for number in range(1, 13)]


@pytest.fixture
async def committed_client(
    postgres_only: None, database_url: str, settings: Settings
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], int]]:
    engine = create_engine(database_url, settings)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        customer = Client(name="Concorrente", document=next_cpf())
        session.add(customer)
    try:
        yield sessionmaker, customer.id
    finally:
        async with sessionmaker() as session, session.begin():
            await clients_service.delete(session, customer.id)
        await engine.dispose()


async def test_concurrent_months_of_one_client_keep_the_links_exact(
    committed_client: tuple[async_sessionmaker[AsyncSession], int],
) -> None:
    sessionmaker, customer_id = committed_client

    async def write(mes: str) -> None:
        async with sessionmaker() as session, session.begin():
            await consumptions_service.create(
                session, client_id=customer_id, month=month(mes), kwh=Decimal("1.00")
            )

    await asyncio.gather(*(write(mes) for mes in FAR_MONTHS))

    async with sessionmaker() as session:
        maintained = await snapshot(session, since=month("2091-01"), client_id=customer_id)
        count = await session.scalar(
            select(func.count()).where(Consumption.client_id == customer_id)
        )
    assert count == 12
    assert maintained.months == [(month(mes), 100, 1) for mes in FAR_MONTHS]
    # Each month follows the one before it; January is the client's first.
    assert maintained.links == [(month("2091-01"), month("2091-01"), 1)] + [
        (month(b), month(a), 1) for a, b in itertools.pairwise(FAR_MONTHS)
    ]
    assert maintained.totals == [(customer_id, 1200, 12)]
    # The window ending in 2091's k-th month holds k records; in 2092's k-th, 12 − k.
    assert maintained.trailing == [
        (customer_id, month(f"2091-{k:02d}"), 100 * k, k) for k in range(1, 13)
    ] + [(customer_id, month(f"2092-{k:02d}"), 100 * (12 - k), 12 - k) for k in range(1, 12)]


async def test_concurrent_months_of_one_client_keep_the_flags_exact(
    committed_client: tuple[async_sessionmaker[AsyncSession], int],
) -> None:
    """Each write re-judges its months after taking the client's lock, so it sees the writes
    committed before it, and the later ones re-judge whatever they change."""
    sessionmaker, customer_id = committed_client
    months = [f"2090-{number:02d}" for number in range(1, 13)] + FAR_MONTHS
    values = ["100.00", "101.00", "99.00", "100.00", "300.00", "100.00"] * 4  # a spike a half-year

    async def write(mes: str, kwh: str) -> None:
        async with sessionmaker() as session, session.begin():
            await consumptions_service.create(
                session, client_id=customer_id, month=month(mes), kwh=Decimal(kwh)
            )

    await asyncio.gather(*(write(mes, kwh) for mes, kwh in zip(months, values, strict=True)))

    async with sessionmaker() as session, session.begin():
        mine = FlaggedMonth.client_id == customer_id
        maintained = await flagged_rows(session, mine)
        await summaries_service.rebuild_clients(session, [customer_id])
        rebuilt = await flagged_rows(session, mine)
        await session.rollback()
    assert maintained == rebuilt
    assert len(maintained) >= 3  # the spikes once a year-before or six months of history exist
