"""crescimento: a client's latest month against the month before and a year before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, select, true
from sqlalchemy.orm import aliased

from energy_api.analytics.queries.common import (
    CLIENT,
    END,
    ONE_ROW,
    START,
    as_date,
    bound,
    from_cents,
    in_range,
    optional,
    percent,
)
from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.db import Reader
from energy_api.db.functions import add_months, cents, ratio_half_away


@dataclass(frozen=True, slots=True)
class GrowthRow:
    client_exists: bool
    month: date | None
    kwh: Decimal | None
    previous: Decimal | None
    change_pct: Decimal | None
    year_before: Decimal | None
    yearly_change_pct: Decimal | None


async def growth(reader: Reader, client_id: int, start: date | None, end: date | None) -> GrowthRow:
    """The latest month in range against the calendar month before and a year before."""
    statement = _growth(start is not None, end is not None)
    params = bound(client_id=client_id, start=start, end=end)
    row = await reader.first(statement, params)
    if row is None:
        return GrowthRow(False, None, None, None, None, None, None)
    return GrowthRow(
        client_exists=True,
        month=as_date(row["month"]),
        kwh=from_cents(row["x"]),
        previous=from_cents(row["previous"]),
        change_pct=percent(row["change"]),
        year_before=from_cents(row["year_before"]),
        yearly_change_pct=percent(row["yearly_change"]),
    )


@cache
def _growth(has_start: bool, has_end: bool) -> Select[Any]:
    start, end = optional(has_start, START), optional(has_end, END)
    latest = (
        select(Consumption.month, cents(Consumption.kwh).label("x"))
        .where(Consumption.client_id == CLIENT, *in_range(Consumption.month, start, end))
        .order_by(Consumption.month.desc())
        .limit(ONE_ROW)
        .subquery("latest")
    )
    previous = aliased(Consumption, name="previous")
    year_before = aliased(Consumption, name="year_before")
    previous_cents = cents(previous.kwh)
    year_cents = cents(year_before.kwh)
    return (
        select(
            Client.id,
            latest.c.month,
            latest.c.x,
            previous_cents.label("previous"),
            ratio_half_away(latest.c.x - previous_cents, previous_cents, 10_000).label("change"),
            year_cents.label("year_before"),
            ratio_half_away(latest.c.x - year_cents, year_cents, 10_000).label("yearly_change"),
        )
        .select_from(Client)
        .outerjoin(latest, true())
        .outerjoin(
            previous,
            and_(previous.client_id == Client.id, previous.month == add_months(latest.c.month, -1)),
        )
        .outerjoin(
            year_before,
            and_(
                year_before.client_id == Client.id,
                year_before.month == add_months(latest.c.month, -12),
            ),
        )
        .where(Client.id == CLIENT)
    )
