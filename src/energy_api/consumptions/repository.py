from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.db import violated_constraint

MONTH_UNIQUE = "uq_consumptions_client_id_month"
CLIENT_FK = "fk_consumptions_client_id_clients"


class DuplicateMonth(Exception):
    pass


class UnknownClient(Exception):
    pass


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        name = violated_constraint(exc)
        if name == MONTH_UNIQUE:
            raise DuplicateMonth from exc
        if name in {CLIENT_FK, "foreign_key"}:
            raise UnknownClient from exc
        raise


async def get(session: AsyncSession, consumption_id: int) -> tuple[Consumption, str] | None:
    result = await session.execute(
        select(Consumption, Client.name)
        .join(Client, Client.id == Consumption.client_id)
        .where(Consumption.id == consumption_id)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


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
    await _flush(session)
    return consumption


async def update(
    session: AsyncSession, consumption: Consumption, values: dict[str, Any]
) -> Consumption:
    for key, value in values.items():
        setattr(consumption, key, value)
    await _flush(session)
    return consumption


async def delete_by_id(session: AsyncSession, consumption_id: int) -> bool:
    result = await session.execute(
        delete(Consumption).where(Consumption.id == consumption_id).returning(Consumption.id)
    )
    return result.first() is not None
