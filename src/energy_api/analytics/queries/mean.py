"""media-consumo: a client's mean and latest month, one statement on the hot path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Select, func, select

from energy_api.analytics.queries.common import (
    CENT,
    CLIENT,
    ONE_ROW,
    as_date,
    client_exists_clause,
    from_cents,
)
from energy_api.consumptions.models import Consumption
from energy_api.db import Reader
from energy_api.db.functions import mean_half_up


@dataclass(frozen=True, slots=True)
class MeanRow:
    client_exists: bool
    months: int
    mean: Decimal | None
    latest_month: date | None
    latest_kwh: Decimal | None


@cache
def _mean_and_latest() -> Select[Any]:
    latest_kwh = (
        select(Consumption.kwh)
        .where(Consumption.client_id == CLIENT)
        .order_by(Consumption.month.desc())
        .limit(ONE_ROW)
        .scalar_subquery()
    )
    return select(
        client_exists_clause(CLIENT).label("client_exists"),
        func.count(Consumption.kwh).label("months"),
        mean_half_up(Consumption.kwh).label("mean_cents"),
        func.max(Consumption.month).label("latest_month"),
        latest_kwh.label("latest_kwh"),
    ).where(Consumption.client_id == CLIENT)


async def mean_and_latest(reader: Reader, client_id: int) -> MeanRow:
    """Mean of every month, and the latest month's value, for one client in one statement."""
    row = await reader.first(_mean_and_latest(), {"client_id": client_id})
    assert row is not None  # an aggregate without GROUP BY: always one row
    latest_kwh = row["latest_kwh"]
    return MeanRow(
        client_exists=bool(row["client_exists"]),
        months=int(row["months"]),
        mean=from_cents(row["mean_cents"]),
        latest_month=as_date(row["latest_month"]),
        latest_kwh=None if latest_kwh is None else Decimal(str(latest_kwh)).quantize(CENT),
    )
