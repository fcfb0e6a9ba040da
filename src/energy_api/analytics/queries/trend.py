"""tendencia: the least-squares slope of a client's last months."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Select, case, func, null, select, true

from energy_api.analytics.queries.common import (
    CLIENT,
    END,
    START,
    bound,
    from_cents,
    in_range,
    optional,
    percent,
)
from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.db import Reader
from energy_api.db.functions import add_months, cents, exact, month_index, ratio_half_away


@dataclass(frozen=True, slots=True)
class TrendRow:
    client_exists: bool
    points: int
    slope: Decimal | None
    yearly_pct: Decimal | None


async def trend(
    reader: Reader, client_id: int, months: int, start: date | None, end: date | None
) -> TrendRow:
    """Least squares of kWh on the month number over the last `months` calendar months.

    With x = months since the latest month and y = cents: slope = N ÷ D where
    N = n·Σxy − Σx·Σy and D = n·Σx² − (Σx)²; the yearly % is slope·12 ÷ (Σy ÷ n) × 100.
    """
    statement = _trend(months, start is not None, end is not None)
    params = bound(client_id=client_id, start=start, end=end)
    row = await reader.first(statement, params)
    if row is None:
        return TrendRow(False, 0, None, None)
    return TrendRow(
        client_exists=True,
        points=int(row["n"]),
        slope=from_cents(row["slope"]),
        yearly_pct=percent(row["yearly"]),
    )


@cache
def _trend(months: int, has_start: bool, has_end: bool) -> Select[Any]:
    start, end = optional(has_start, START), optional(has_end, END)
    within = in_range(Consumption.month, start, end)
    latest = (
        select(func.max(Consumption.month))
        .where(Consumption.client_id == CLIENT, *within)
        .scalar_subquery()
    )
    points = (
        select(
            (month_index(Consumption.month) - month_index(latest)).label("x"),
            cents(Consumption.kwh).label("y"),
        )
        .where(
            Consumption.client_id == CLIENT,
            Consumption.month > add_months(latest, -months),
            Consumption.month <= latest,
            *within,
        )
        .subquery("points")
    )
    x, y = exact(points.c.x), exact(points.c.y)
    sums = select(
        func.count().label("n"),
        func.sum(x).label("sx"),
        func.sum(y).label("sy"),
        func.sum(x * y).label("sxy"),
        func.sum(x * x).label("sxx"),
    ).subquery("sums")
    n = exact(sums.c.n)
    numerator = n * sums.c.sxy - sums.c.sx * sums.c.sy
    denominator = n * sums.c.sxx - sums.c.sx * sums.c.sx
    enough = sums.c.n >= 3
    return (
        select(
            Client.id,
            func.coalesce(sums.c.n, 0).label("n"),
            case((enough, ratio_half_away(numerator, denominator)), else_=null()).label("slope"),
            case(
                (enough, ratio_half_away(numerator * n, denominator * sums.c.sy, 120_000)),
                else_=null(),
            ).label("yearly"),
        )
        .select_from(Client)
        .outerjoin(sums, true())
        .where(Client.id == CLIENT)
    )
