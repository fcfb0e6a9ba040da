"""Analytics SQL: aggregates computed by the database, one statement per answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption

CENT = Decimal("0.01")


def cents(value: Any) -> ColumnElement[int]:
    """A kWh value as whole cents (exact on NUMERIC and on SQLite's REAL alike)."""
    return cast(func.round(value * literal_column("100")), BigInteger)


def mean_half_up(values: Any) -> ColumnElement[Any]:
    """The mean of kWh values in whole cents, rounded half-up, by integer arithmetic.

    floor((2·Σcents + n) / 2n) is the half-up rounding of Σcents / n for non-negative values;
    both PostgreSQL and SQLite divide integers exactly like this, so the dialects agree.
    """
    total = cast(func.sum(cents(values)), BigInteger)  # PostgreSQL's sum(bigint) is numeric
    count = func.count(values)
    return (literal_column("2") * total + count) // (literal_column("2") * count)


def from_cents(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) * CENT).quantize(CENT)


@dataclass(frozen=True, slots=True)
class MeanRow:
    client_exists: bool
    months: int
    mean: Decimal | None
    latest_month: date | None
    latest_kwh: Decimal | None


async def mean_and_latest(session: AsyncSession, client_id: int) -> MeanRow:
    """Mean of every month, and the latest month's value, for one client in one statement."""
    latest_kwh = (
        select(Consumption.kwh)
        .where(Consumption.client_id == client_id)
        .order_by(Consumption.month.desc())
        .limit(1)
        .scalar_subquery()
    )
    client_exists = select(Client.id).where(Client.id == client_id).exists()
    statement = select(
        client_exists.label("client_exists"),
        func.count(Consumption.kwh).label("months"),
        mean_half_up(Consumption.kwh).label("mean_cents"),
        func.max(Consumption.month).label("latest_month"),
        latest_kwh.label("latest_kwh"),
    ).where(Consumption.client_id == client_id)
    row = (await session.execute(statement)).one()
    latest_month = row.latest_month
    if isinstance(latest_month, str):  # SQLite's max() over a DATE column yields text
        latest_month = date.fromisoformat(latest_month)
    return MeanRow(
        client_exists=bool(row.client_exists),
        months=int(row.months),
        mean=from_cents(row.mean_cents),
        latest_month=latest_month,
        latest_kwh=None if row.latest_kwh is None else Decimal(str(row.latest_kwh)).quantize(CENT),
    )
