"""serie-mensal: totals per month, quarter or year with changes and moving averages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Select,
    bindparam,
    cast,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.sql.selectable import Subquery

from energy_api import months
from energy_api.analytics.queries.common import (
    CLIENT,
    END,
    bound,
    from_cents,
    in_range,
    optional,
    percent,
    required_cents,
)
from energy_api.consumptions.models import Consumption
from energy_api.db import Reader
from energy_api.db.functions import (
    cents,
    days_in_month,
    half_up_div,
    month_index,
    ratio_half_away,
)
from energy_api.summaries.models import PortfolioMonth, PortfolioMonthLink

PeriodKind = Literal["month", "quarter", "year"]
MONTHS_PER_PERIOD: dict[PeriodKind, int] = {"month": 1, "quarter": 3, "year": 12}
# The year-over-year change of the first reported period needs the 12 months before it.
LOOKBACK_MONTHS = 12
LOOKBACK = bindparam("lookback", type_=Date)  # 12 months before `start`
FIRST_PERIOD = bindparam("first_period", type_=Integer)  # the period of `start`


@dataclass(frozen=True, slots=True)
class SeriesRow:
    period: int  # month_index // months per period
    total: Decimal
    clients: int
    per_day: Decimal
    change_pct: Decimal | None
    yearly_change_pct: Decimal | None
    moving_3: Decimal | None
    moving_12: Decimal | None


def _monthly_source(one_client: bool, start: Any, end: Any) -> Subquery:
    """(mi, cents, clients, days) per month with data, for one client or the portfolio."""
    if one_client:
        return (
            select(
                month_index(Consumption.month).label("mi"),
                cents(Consumption.kwh).label("cents"),
                literal(1, Integer).label("clients"),
                days_in_month(Consumption.month).label("days"),
            )
            .where(Consumption.client_id == CLIENT, *in_range(Consumption.month, start, end))
            .subquery("monthly")
        )
    pm = PortfolioMonth
    return (
        select(
            month_index(pm.month).label("mi"),
            pm.total_cents.label("cents"),
            pm.clients.label("clients"),
            days_in_month(pm.month).label("days"),
        )
        .where(pm.clients > 0, *in_range(pm.month, start, end))
        .subquery("monthly")
    )


def _portfolio_period_clients(span: int, start: Any, end: Any) -> Subquery:
    """Distinct clients per period: records whose previous record is before the period."""
    link = PortfolioMonthLink
    mi = month_index(link.month)
    period = mi // span
    first_in_period = or_(
        link.previous_month == link.month, month_index(link.previous_month) < period * span
    )
    return (
        select(period.label("period"), func.sum(link.clients).label("clients"))
        .where(first_in_period, *in_range(link.month, start, end))
        .group_by(period)
        .subquery("period_clients")
    )


async def series(
    reader: Reader,
    *,
    client_id: int | None,
    kind: PeriodKind,
    start: date | None,
    end: date | None,
) -> list[SeriesRow]:
    """Totals per period with changes and moving averages, all by window frames in SQL.

    Rows from 12 months before `start` are read too (they are the references of the first
    reported periods) and dropped after the windows are computed. Windows order by the period
    number with RANGE frames, so "1 PRECEDING" is the previous calendar period, present or not.
    """
    statement = _series(client_id is not None, kind, start is not None, end is not None)
    span = MONTHS_PER_PERIOD[kind]
    params = bound(
        client_id=client_id,
        end=end,
        lookback=None if start is None else months.shift(start, -LOOKBACK_MONTHS),
        first_period=None if start is None else months.index(start) // span,
    )
    rows = await reader.all(statement, params)
    return [
        SeriesRow(
            period=int(row["period"]),
            total=required_cents(row["total"]),
            clients=int(row["clients"]),
            per_day=required_cents(row["per_day"]),
            change_pct=percent(row["change"]),
            yearly_change_pct=percent(row["yearly_change"]),
            moving_3=from_cents(row["moving_3"]),
            moving_12=from_cents(row["moving_12"]),
        )
        for row in rows
    ]


@cache
def _series(one_client: bool, kind: PeriodKind, has_start: bool, has_end: bool) -> Select[Any]:
    span = MONTHS_PER_PERIOD[kind]
    per_year = 12 // span
    lookback, end = optional(has_start, LOOKBACK), optional(has_end, END)
    monthly = _monthly_source(one_client, lookback, end)
    period = monthly.c.mi // span
    periods = (
        select(
            period.label("period"),
            cast(func.sum(monthly.c.cents), BigInteger).label("total"),
            func.sum(monthly.c.days).label("days"),
            # One client, or one month: its records are its distinct clients.
            func.max(monthly.c.clients).label("clients"),
        )
        .group_by(period)
        .subquery("periods")
    )
    clients: ColumnElement[Any] = periods.c.clients
    source: Any = periods
    if not one_client and kind != "month":
        per_period = _portfolio_period_clients(span, lookback, end)
        source = periods.join(per_period, per_period.c.period == periods.c.period)
        clients = per_period.c.clients

    def frame(lo: int, hi: int) -> Any:
        return {"order_by": periods.c.period, "range_": (lo, hi)}

    total = periods.c.total
    moving: list[ColumnElement[Any]]
    if kind == "month":
        moving = [
            half_up_div(
                func.sum(total).over(**frame(-(n - 1), 0)),
                func.count(total).over(**frame(-(n - 1), 0)),
            )
            for n in (3, 12)
        ]
    else:
        moving = [null(), null()]
    framed = (
        select(
            periods.c.period,
            total.label("total"),
            clients.label("clients"),
            half_up_div(total, periods.c.days).label("per_day"),
            func.sum(total).over(**frame(-1, -1)).label("previous"),
            func.sum(total).over(**frame(-per_year, -per_year)).label("year_before"),
            moving[0].label("moving_3"),
            moving[1].label("moving_12"),
        )
        .select_from(source)
        .subquery("framed")
    )
    statement = select(
        framed.c.period,
        framed.c.total,
        framed.c.clients,
        framed.c.per_day,
        ratio_half_away(framed.c.total - framed.c.previous, framed.c.previous, 10_000).label(
            "change"
        ),
        ratio_half_away(framed.c.total - framed.c.year_before, framed.c.year_before, 10_000).label(
            "yearly_change"
        ),
        framed.c.moving_3,
        framed.c.moving_12,
    ).order_by(framed.c.period)
    if has_start:
        statement = statement.where(framed.c.period >= FIRST_PERIOD)
    return statement
