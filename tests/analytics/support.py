"""Helpers for the analytics tests: records written through the consumptions service (so the
portfolio summaries are maintained as in production) and GETs that return the JSON body."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.analytics.models import PortfolioMonth, PortfolioMonthLink
from energy_api.clients.models import Client
from energy_api.consumptions import service as consumptions_service
from tests.factories import create_client

API = "/api/v1/analytics"


def month(text: str) -> date:
    year, number = (int(part) for part in text.split("-"))
    return date(year, number, 1)


async def record(session: AsyncSession, customer: Client, mes: str, kwh: str) -> None:
    """One month of consumption, written as the API writes it."""
    await consumptions_service.create(
        session, client_id=customer.id, month=month(mes), kwh=Decimal(kwh)
    )


async def customer_with(
    session: AsyncSession, values: dict[str, str], *, nome: str = "Cliente Teste"
) -> Client:
    """A new client with the given {month: kWh} records."""
    customer = await create_client(session, nome=nome)
    for mes, kwh in values.items():
        await record(session, customer, mes, kwh)
    return customer


def consecutive(first: str, values: list[str]) -> dict[str, str]:
    """{month: kWh} for consecutive calendar months starting at `first`."""
    start = month(first)
    out: dict[str, str] = {}
    for offset, kwh in enumerate(values):
        year, month0 = divmod(start.year * 12 + start.month - 1 + offset, 12)
        out[f"{year:04d}-{month0 + 1:02d}"] = kwh
    return out


async def get_ok(
    http: AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await http.get(f"{API}/{path}/", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


Snapshot = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


async def snapshot(session: AsyncSession, *, since: date | None = None) -> Snapshot:
    """The summary rows that say something (zero rows are left by removals and mean nothing)."""
    months = select(PortfolioMonth.month, PortfolioMonth.total_cents, PortfolioMonth.clients).where(
        (PortfolioMonth.clients != 0) | (PortfolioMonth.total_cents != 0)
    )
    links = select(
        PortfolioMonthLink.month, PortfolioMonthLink.previous_month, PortfolioMonthLink.clients
    ).where(PortfolioMonthLink.clients != 0)
    if since is not None:
        months = months.where(PortfolioMonth.month >= since)
        links = links.where(PortfolioMonthLink.month >= since)
    return (
        [
            tuple(row)
            for row in (await session.execute(months.order_by(PortfolioMonth.month))).all()
        ],
        [
            tuple(row)
            for row in (
                await session.execute(
                    links.order_by(PortfolioMonthLink.month, PortfolioMonthLink.previous_month)
                )
            ).all()
        ],
    )
