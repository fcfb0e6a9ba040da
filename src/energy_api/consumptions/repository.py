from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.db import SQLITE_FOREIGN_KEY, flush

MONTH_UNIQUE = "uq_consumptions_client_id_month"
CLIENT_FK = "fk_consumptions_client_id_clients"


class DuplicateMonth(Exception):
    pass


class UnknownClient(Exception):
    pass


_CONSTRAINTS = {
    MONTH_UNIQUE: DuplicateMonth,
    CLIENT_FK: UnknownClient,
    SQLITE_FOREIGN_KEY: UnknownClient,
}


async def get(session: AsyncSession, consumption_id: int) -> tuple[Consumption, str] | None:
    result = await session.execute(
        select(Consumption, Client.name)
        .join(Client, Client.id == Consumption.client_id)
        .where(Consumption.id == consumption_id)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


async def client_of(session: AsyncSession, consumption_id: int) -> int | None:
    """The client a record belongs to now, without locking it (to learn which client to lock)."""
    return await session.scalar(
        select(Consumption.client_id).where(Consumption.id == consumption_id)
    )


async def get_locked(session: AsyncSession, consumption_id: int) -> Consumption | None:
    """The record, locked FOR UPDATE until the transaction ends; its client is locked first."""
    return await session.scalar(
        select(Consumption)
        .where(Consumption.id == consumption_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _filters(
    client_id: int | None, start: date | None, end: date | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if client_id is not None:
        conditions.append(Consumption.client_id == client_id)
    if start is not None:
        conditions.append(Consumption.month >= start)
    if end is not None:
        conditions.append(Consumption.month <= end)
    return conditions


async def list_page(
    session: AsyncSession,
    *,
    client_id: int | None,
    start: date | None,
    end: date | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[Consumption, str]], int]:
    conditions = _filters(client_id, start, end)
    rows = (
        select(Consumption, Client.name)
        .join(Client, Client.id == Consumption.client_id)
        .where(*conditions)
        .order_by(Consumption.month.desc(), Consumption.id)
        .limit(limit)
        .offset(offset)
    )
    count = select(func.count()).select_from(Consumption).where(*conditions)
    items = [(row[0], row[1]) for row in (await session.execute(rows)).all()]
    total = await session.scalar(count)
    return items, int(total or 0)


async def add(session: AsyncSession, *, client_id: int, month: date, kwh: Decimal) -> Consumption:
    consumption = Consumption(client_id=client_id, month=month, kwh=kwh)
    session.add(consumption)
    await flush(session, _CONSTRAINTS)
    return consumption


async def update(
    session: AsyncSession, consumption: Consumption, *, client_id: int, month: date, kwh: Decimal
) -> Consumption:
    """Set every field of a record the caller has locked."""
    consumption.client_id = client_id
    consumption.month = month
    consumption.kwh = kwh
    await flush(session, _CONSTRAINTS)
    return consumption


async def delete_by_id(session: AsyncSession, consumption_id: int) -> bool:
    result = await session.execute(
        delete(Consumption).where(Consumption.id == consumption_id).returning(Consumption.id)
    )
    return result.first() is not None
