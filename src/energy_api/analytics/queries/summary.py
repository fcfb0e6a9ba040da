"""resumo: totals, mean, extremes and kWh per day, for one client or the portfolio."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, cast, func, or_, select

from energy_api.analytics.queries.common import (
    CLIENT,
    END,
    START,
    as_date,
    bound,
    from_cents,
    in_range,
    optional,
    required_cents,
)
from energy_api.consumptions.models import Consumption
from energy_api.db import Reader
from energy_api.db.functions import cents, days_in_month, half_up_div, sum_cents
from energy_api.summaries.models import PortfolioMonth, PortfolioMonthLink


@dataclass(frozen=True, slots=True)
class SummaryRow:
    first_month: date | None
    last_month: date | None
    clients: int
    months: int
    total: Decimal
    mean: Decimal | None
    minimum: Decimal | None
    maximum: Decimal | None
    per_day: Decimal | None


def _summary_row(row: Mapping[str, Any] | None) -> SummaryRow:
    assert row is not None  # an aggregate without GROUP BY: always one row
    return SummaryRow(
        first_month=as_date(row["first_month"]),
        last_month=as_date(row["last_month"]),
        clients=int(row["clients"] or 0),
        months=int(row["months"] or 0),
        total=required_cents(row["total_cents"] or 0),
        mean=from_cents(row["mean_cents"]),
        minimum=from_cents(row["min_cents"]),
        maximum=from_cents(row["max_cents"]),
        per_day=from_cents(row["per_day_cents"]),
    )


async def client_summary(
    reader: Reader, client_id: int, start: date | None, end: date | None
) -> SummaryRow:
    """One client's totals over the months in range (the client's index, nothing else)."""
    statement = _client_summary(start is not None, end is not None)
    params = bound(client_id=client_id, start=start, end=end)
    return _summary_row(await reader.first(statement, params))


@cache
def _client_summary(has_start: bool, has_end: bool) -> Select[Any]:
    start, end = optional(has_start, START), optional(has_end, END)
    total = sum_cents(Consumption.kwh)
    count = func.count(Consumption.kwh)
    days = func.sum(days_in_month(Consumption.month))
    return select(
        func.min(Consumption.month).label("first_month"),
        func.max(Consumption.month).label("last_month"),
        func.count(func.distinct(Consumption.client_id)).label("clients"),
        count.label("months"),
        total.label("total_cents"),
        half_up_div(total, count).label("mean_cents"),
        func.min(cents(Consumption.kwh)).label("min_cents"),
        func.max(cents(Consumption.kwh)).label("max_cents"),
        half_up_div(total, days).label("per_day_cents"),
    ).where(Consumption.client_id == CLIENT, *in_range(Consumption.month, start, end))


def _clients_in_range(start: Any, end: Any) -> ColumnElement[Any]:
    """Distinct clients with data in [start, end]: records whose previous one is before start."""
    link = PortfolioMonthLink
    first_in_range: ColumnElement[bool] = link.previous_month == link.month
    if start is not None:
        first_in_range = or_(first_in_range, link.previous_month < start)
    return (
        select(func.coalesce(func.sum(link.clients), 0))
        .where(first_in_range, *in_range(link.month, start, end))
        .scalar_subquery()
    )


async def portfolio_summary(reader: Reader, start: date | None, end: date | None) -> SummaryRow:
    """The portfolio's totals from the monthly summary; extremes from one index probe a month."""
    statement = _portfolio_summary(start is not None, end is not None)
    return _summary_row(await reader.first(statement, bound(start=start, end=end)))


@cache
def _portfolio_summary(has_start: bool, has_end: bool) -> Select[Any]:
    start, end = optional(has_start, START), optional(has_end, END)
    pm = PortfolioMonth
    smallest = select(func.min(Consumption.kwh)).where(Consumption.month == pm.month)
    largest = select(func.max(Consumption.kwh)).where(Consumption.month == pm.month)
    months = (
        select(
            pm.month,
            pm.total_cents,
            pm.clients,
            smallest.scalar_subquery().label("smallest"),
            largest.scalar_subquery().label("largest"),
        )
        .where(pm.clients > 0, *in_range(pm.month, start, end))
        .cte("months")
    )
    total = cast(func.sum(months.c.total_cents), BigInteger)
    records = func.sum(months.c.clients)
    days = func.sum(days_in_month(months.c.month))
    return select(
        func.min(months.c.month).label("first_month"),
        func.max(months.c.month).label("last_month"),
        _clients_in_range(start, end).label("clients"),
        func.count().label("months"),
        total.label("total_cents"),
        half_up_div(total, records).label("mean_cents"),
        cents(func.min(months.c.smallest)).label("min_cents"),
        cents(func.max(months.c.largest)).label("max_cents"),
        half_up_div(total, days).label("per_day_cents"),
    )
