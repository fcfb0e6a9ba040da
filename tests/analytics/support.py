"""Helpers for the analytics tests: records written through the consumptions service (so the
portfolio summaries are maintained as in production) and GETs that return the JSON body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from httpx import AsyncClient
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api import months
from energy_api.clients.models import Client
from energy_api.consumptions import service as consumptions_service
from energy_api.summaries.models import (
    ClientTotal,
    ClientTrailingYear,
    FlaggedMonth,
    FlaggedMonthCount,
    PortfolioMonth,
    PortfolioMonthLink,
)
from tests.factories import create_client

API = "/api/v1/analytics"


def month(text: str) -> date:
    """`YYYY-MM` → its first day (any year, so tests can also build months out of range)."""
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
        out[months.label(months.shift(start, offset))] = kwh
    return out


async def get_ok(
    http: AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await http.get(f"{API}/{path}/", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass(frozen=True)
class Snapshot:
    """The summary rows that say something (removals leave rows of zeros, which mean nothing)."""

    months: list[tuple[Any, ...]]
    links: list[tuple[Any, ...]]
    totals: list[tuple[Any, ...]]
    trailing: list[tuple[Any, ...]]
    flagged: list[tuple[Any, ...]]
    flag_counts: list[tuple[Any, ...]]


async def _rows(session: AsyncSession, model: Any, *where: Any) -> list[tuple[Any, ...]]:
    table = model.__table__
    keys = list(table.primary_key.columns)
    amounts = [column for column in table.columns if column not in keys]
    statement = (
        select(*table.columns)
        .where(or_(*(column != 0 for column in amounts)), *where)
        .order_by(*keys)
    )
    return [tuple(row) for row in (await session.execute(statement)).all()]


async def flagged_rows(session: AsyncSession, *where: Any) -> list[tuple[Any, ...]]:
    """Every column of flagged_months, by client and month."""
    table = FlaggedMonth.__table__
    statement = (
        select(*table.columns).where(*where).order_by(FlaggedMonth.client_id, FlaggedMonth.month)
    )
    return [tuple(row) for row in (await session.execute(statement)).all()]


async def snapshot(
    session: AsyncSession, *, since: date | None = None, client_id: int | None = None
) -> Snapshot:
    """Every summary table; `since`/`client_id` keep only the rows of those months/that client."""
    months = [] if since is None else [PortfolioMonth.month >= since]
    links = [] if since is None else [PortfolioMonthLink.month >= since]
    totals = [] if client_id is None else [ClientTotal.client_id == client_id]
    trailing = [] if client_id is None else [ClientTrailingYear.client_id == client_id]
    flagged = [] if client_id is None else [FlaggedMonth.client_id == client_id]
    counts = [] if since is None else [FlaggedMonthCount.month >= since]
    if since is not None:
        flagged.append(FlaggedMonth.month >= since)
    return Snapshot(
        months=await _rows(session, PortfolioMonth, *months),
        links=await _rows(session, PortfolioMonthLink, *links),
        totals=await _rows(session, ClientTotal, *totals),
        trailing=await _rows(session, ClientTrailingYear, *trailing),
        flagged=await flagged_rows(session, *flagged),
        flag_counts=await _rows(session, FlaggedMonthCount, *counts),
    )
