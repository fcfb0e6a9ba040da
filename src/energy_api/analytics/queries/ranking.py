"""ranking: clients by total consumption in a range, with RANK() positions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.sql.selectable import Subquery

from energy_api import months
from energy_api.analytics.queries.common import (
    END,
    LIMIT,
    START,
    as_date,
    bound,
    client_name,
    in_range,
    optional,
    required_cents,
)
from energy_api.consumptions.models import Consumption
from energy_api.db import Reader
from energy_api.db.functions import half_up_div, sum_cents
from energy_api.summaries.models import ClientTotal, ClientTrailingYear, PortfolioMonth
from energy_api.summaries.rule import TRAILING_MONTHS


@dataclass(frozen=True, slots=True)
class RankingRow:
    position: int
    client_id: int
    name: str
    total: Decimal
    mean: Decimal
    months: int


@dataclass(frozen=True, slots=True)
class Ranking:
    first_month: date | None
    last_month: date | None
    items: list[RankingRow]


RankingPath = Literal["all", "trailing", "records"]


def _portfolio_bounds(start: Any, end: Any) -> tuple[Any, Any]:
    pm = PortfolioMonth
    where = [pm.clients > 0, *in_range(pm.month, start, end)]
    return (
        select(func.min(pm.month)).where(*where).scalar_subquery(),
        select(func.max(pm.month)).where(*where).scalar_subquery(),
    )


def _ranking_path(start: date | None, end: date | None) -> RankingPath:
    """All months, or a 12-month window, are read from the maintained per-client summaries in
    total order (an index range stopped by LIMIT); other ranges aggregate the records over the
    (month, kWh, client) index."""
    if start is None and end is None:
        return "all"
    if (
        start is not None
        and end is not None
        and months.index(end) - months.index(start) + 1 == TRAILING_MONTHS
    ):
        return "trailing"
    return "records"


def _ranking_source(path: RankingPath, start: Any, end: Any) -> Subquery:
    """(client_id, total, months) of every client with data in range."""
    if path == "all":
        return (
            select(
                ClientTotal.client_id,
                ClientTotal.total_cents.label("total"),
                ClientTotal.months,
            )
            .where(ClientTotal.months > 0)
            .subquery("totals")
        )
    if path == "trailing":
        return (
            select(
                ClientTrailingYear.client_id,
                ClientTrailingYear.total_cents.label("total"),
                ClientTrailingYear.months,
            )
            .where(ClientTrailingYear.month == end, ClientTrailingYear.months > 0)
            .subquery("totals")
        )
    return (
        select(
            Consumption.client_id,
            sum_cents(Consumption.kwh).label("total"),
            func.count(Consumption.kwh).label("months"),
        )
        .where(*in_range(Consumption.month, start, end))
        .group_by(Consumption.client_id)
        .subquery("totals")
    )


async def ranking(reader: Reader, start: date | None, end: date | None, limit: int) -> Ranking:
    """Clients by total in range with RANK() positions, the first `limit` of them."""
    statement = _ranking(_ranking_path(start, end), start is not None, end is not None)
    params = bound(start=start, end=end, limit=limit)
    rows = await reader.all(statement, params)
    if rows:
        first_month, last_month = as_date(rows[0]["first_month"]), as_date(rows[0]["last_month"])
    else:
        first_month = last_month = None
    return Ranking(
        first_month=first_month,
        last_month=last_month,
        items=[
            RankingRow(
                position=int(row["position"]),
                client_id=int(row["client_id"]),
                name=row["name"],
                total=required_cents(row["total"]),
                mean=required_cents(row["mean"]),
                months=int(row["months"]),
            )
            for row in rows
        ],
    )


@cache
def _ranking(path: RankingPath, has_start: bool, has_end: bool) -> Select[Any]:
    start, end = optional(has_start, START), optional(has_end, END)
    totals = _ranking_source(path, start, end)
    ranked = (
        select(
            totals.c.client_id,
            totals.c.total,
            totals.c.months,
            half_up_div(totals.c.total, totals.c.months).label("mean"),
            func.rank().over(order_by=totals.c.total.desc()).label("position"),
        )
        .order_by(totals.c.total.desc(), totals.c.client_id)
        .limit(LIMIT)
        .subquery("ranked")
    )
    first, last = _portfolio_bounds(start, end)
    return select(
        ranked.c.position,
        ranked.c.client_id,
        client_name(ranked.c.client_id),
        ranked.c.total,
        ranked.c.mean,
        ranked.c.months,
        first.label("first_month"),
        last.label("last_month"),
    ).order_by(ranked.c.position, ranked.c.client_id)
