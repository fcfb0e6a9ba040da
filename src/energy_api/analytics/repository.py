"""Analytics SQL: aggregates computed by the database, one statement per answer.

Every figure is computed by the database from whole cents (`cents`, `sum_cents`) with exact
integer rounding (`ratio_half_away`), so PostgreSQL and SQLite return the same numbers. Results
come back as a few rows of integers; Python only turns cents into Decimals.

Portfolio-wide answers read the summary tables of `analytics.models` (a row per month, the
month-to-previous-month links of every client, each client's all-time and trailing-12-month
totals, the flagged client-months of `anomalias`), which this module keeps in step with the
consumptions in the same transaction as each write (`record_consumption_change`,
`forget_client`); `rebuild_summaries` recomputes them.
Statements are built once per shape and reused with bound parameters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
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
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import CTE, Subquery

from energy_api.analytics.models import (
    ClientTotal,
    ClientTrailingYear,
    FlaggedMonth,
    FlaggedMonthCount,
    PortfolioMonth,
    PortfolioMonthLink,
)
from energy_api.analytics.sql import (
    add_months,
    days_in_month,
    exact,
    half_up_div,
    month_index,
    ratio_half_away,
    sum_cents,
)
from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.db import Reader

CENT = Decimal("0.01")
PeriodKind = Literal["month", "quarter", "year"]
MONTHS_PER_PERIOD: dict[PeriodKind, int] = {"month": 1, "quarter": 3, "year": 12}
HISTORY_MONTHS = 12  # anomalies: the reference window m−12 … m−1
MAD_MIN_HISTORY = 6  # fewer values than this: fall back to the same month a year before
TRAILING_MONTHS = 12  # the window of client_trailing_years

# Statements are built once per shape (which filters, which path) with these parameters, and
# reused: building and hashing a statement costs more than running one of these queries.
CLIENT = bindparam("client_id", type_=Integer)
START = bindparam("start", type_=Date)
END = bindparam("end", type_=Date)
LIMIT = bindparam("limit", type_=Integer)
LOOKBACK = bindparam("lookback", type_=Date)  # serie-mensal: 12 months before `start`
FIRST_PERIOD = bindparam("first_period", type_=Integer)  # serie-mensal: the period of `start`


def cents(value: Any) -> ColumnElement[int]:
    """A kWh value as whole cents (exact on NUMERIC and on SQLite's REAL alike)."""
    return cast(func.round(value * literal_column("100")), BigInteger)


def mean_half_up(values: Any) -> ColumnElement[Any]:
    """The mean of kWh values in whole cents, rounded half-up, by integer arithmetic.

    floor((2·Σcents + n) / 2n) is the half-up rounding of Σcents / n for non-negative values;
    both PostgreSQL and SQLite divide integers exactly like this, so the dialects agree.
    """
    total = sum_cents(values)  # exact Σ of cents on both dialects, as BIGINT
    count = func.count(values)
    return (literal_column("2") * total + count) // (literal_column("2") * count)


def from_cents(value: int | Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(int(value)).scaleb(-2)


def _required_cents(value: int | Decimal) -> Decimal:
    return Decimal(int(value)).scaleb(-2)


def _params(**values: Any) -> dict[str, Any]:
    """The bound values of a statement: the ones given (None means "no such filter")."""
    return {name: value for name, value in values.items() if value is not None}


def _optional(present: bool, parameter: Any) -> Any:
    """The statement's parameter when the request gives that value, else None (no filter)."""
    return parameter if present else None


def _as_date(value: date | str | None) -> date | None:
    if isinstance(value, str):  # SQLite's min()/max() over a DATE column yield text
        return date.fromisoformat(value)
    return value


def _required_date(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _in_range(column: Any, start: Any, end: Any) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column <= end)
    return conditions


def _shift(month: date, months: int) -> date:
    year, month0 = divmod(month.year * 12 + month.month - 1 + months, 12)
    return date(year, month0 + 1, 1)


def month_number(month: date) -> int:
    """The same number as SQL's `month_index`: year × 12 + month − 1."""
    return month.year * 12 + month.month - 1


async def _run(
    session: AsyncSession, statement: Select[Any], params: dict[str, Any]
) -> CursorResult[Any]:
    """Run a read on the session's connection: Core rows, without the ORM's result handling."""
    connection = await session.connection()
    result: CursorResult[Any] = await connection.execute(statement, params)
    return result


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _client_exists(client_id: Any) -> ColumnElement[bool]:
    return select(Client.id).where(Client.id == client_id).exists()


def _client_name(client_id: ColumnElement[int]) -> ColumnElement[str]:
    """The client's name, looked up by primary key for each of the few rows of a page."""
    return select(Client.name).where(Client.id == client_id).scalar_subquery().label("name")


_CLIENT_EXISTS = select(_client_exists(CLIENT))


async def client_exists(session: AsyncSession, client_id: int) -> bool:
    return bool((await _run(session, _CLIENT_EXISTS, {"client_id": client_id})).scalar())


# ---------------------------------------------------------------------------------------------
# media-consumo


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
        .limit(1)
        .scalar_subquery()
    )
    return select(
        _client_exists(CLIENT).label("client_exists"),
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
        latest_month=_as_date(row["latest_month"]),
        latest_kwh=None if latest_kwh is None else Decimal(str(latest_kwh)).quantize(CENT),
    )


# ---------------------------------------------------------------------------------------------
# resumo


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


def _summary_row(row: Any) -> SummaryRow:
    return SummaryRow(
        first_month=_as_date(row.first_month),
        last_month=_as_date(row.last_month),
        clients=int(row.clients or 0),
        months=int(row.months or 0),
        total=_required_cents(row.total_cents or 0),
        mean=from_cents(row.mean_cents),
        minimum=from_cents(row.min_cents),
        maximum=from_cents(row.max_cents),
        per_day=from_cents(row.per_day_cents),
    )


async def client_summary(
    session: AsyncSession, client_id: int, start: date | None, end: date | None
) -> SummaryRow:
    """One client's totals over the months in range (the client's index, nothing else)."""
    statement = _client_summary(start is not None, end is not None)
    params = _params(client_id=client_id, start=start, end=end)
    return _summary_row((await _run(session, statement, params)).one())


@cache
def _client_summary(has_start: bool, has_end: bool) -> Select[Any]:
    start, end = _optional(has_start, START), _optional(has_end, END)
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
    ).where(Consumption.client_id == CLIENT, *_in_range(Consumption.month, start, end))


def _clients_in_range(start: Any, end: Any) -> ColumnElement[Any]:
    """Distinct clients with data in [start, end]: records whose previous one is before start."""
    link = PortfolioMonthLink
    first_in_range: ColumnElement[bool] = link.previous_month == link.month
    if start is not None:
        first_in_range = or_(first_in_range, link.previous_month < start)
    return (
        select(func.coalesce(func.sum(link.clients), 0))
        .where(first_in_range, *_in_range(link.month, start, end))
        .scalar_subquery()
    )


async def portfolio_summary(
    session: AsyncSession, start: date | None, end: date | None
) -> SummaryRow:
    """The portfolio's totals from the monthly summary; extremes from one index probe a month."""
    statement = _portfolio_summary(start is not None, end is not None)
    return _summary_row((await _run(session, statement, _params(start=start, end=end))).one())


@cache
def _portfolio_summary(has_start: bool, has_end: bool) -> Select[Any]:
    start, end = _optional(has_start, START), _optional(has_end, END)
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
        .where(pm.clients > 0, *_in_range(pm.month, start, end))
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


# ---------------------------------------------------------------------------------------------
# serie-mensal


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


def _percent(value: int | Decimal | None) -> Decimal | None:
    """Hundredths of a percent (an integer from SQL) as a 2-decimal percentage."""
    return from_cents(value)


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
            .where(Consumption.client_id == CLIENT, *_in_range(Consumption.month, start, end))
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
        .where(pm.clients > 0, *_in_range(pm.month, start, end))
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
        .where(first_in_period, *_in_range(link.month, start, end))
        .group_by(period)
        .subquery("period_clients")
    )


async def series(
    session: AsyncSession,
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
    params = _params(
        client_id=client_id,
        end=end,
        lookback=None if start is None else _shift(start, -HISTORY_MONTHS),
        first_period=None if start is None else month_number(start) // span,
    )
    rows = (await _run(session, statement, params)).all()
    return [
        SeriesRow(
            period=int(row.period),
            total=_required_cents(row.total),
            clients=int(row.clients),
            per_day=_required_cents(row.per_day),
            change_pct=_percent(row.change),
            yearly_change_pct=_percent(row.yearly_change),
            moving_3=from_cents(row.moving_3),
            moving_12=from_cents(row.moving_12),
        )
        for row in rows
    ]


@cache
def _series(one_client: bool, kind: PeriodKind, has_start: bool, has_end: bool) -> Select[Any]:
    span = MONTHS_PER_PERIOD[kind]
    per_year = 12 // span
    lookback, end = _optional(has_start, LOOKBACK), _optional(has_end, END)
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


# ---------------------------------------------------------------------------------------------
# crescimento


@dataclass(frozen=True, slots=True)
class GrowthRow:
    client_exists: bool
    month: date | None
    kwh: Decimal | None
    previous: Decimal | None
    change_pct: Decimal | None
    year_before: Decimal | None
    yearly_change_pct: Decimal | None


async def growth(
    session: AsyncSession, client_id: int, start: date | None, end: date | None
) -> GrowthRow:
    """The latest month in range against the calendar month before and a year before."""
    statement = _growth(start is not None, end is not None)
    params = _params(client_id=client_id, start=start, end=end)
    row = (await _run(session, statement, params)).first()
    if row is None:
        return GrowthRow(False, None, None, None, None, None, None)
    return GrowthRow(
        client_exists=True,
        month=_as_date(row.month),
        kwh=from_cents(row.x),
        previous=from_cents(row.previous),
        change_pct=_percent(row.change),
        year_before=from_cents(row.year_before),
        yearly_change_pct=_percent(row.yearly_change),
    )


@cache
def _growth(has_start: bool, has_end: bool) -> Select[Any]:
    start, end = _optional(has_start, START), _optional(has_end, END)
    latest = (
        select(Consumption.month, cents(Consumption.kwh).label("x"))
        .where(Consumption.client_id == CLIENT, *_in_range(Consumption.month, start, end))
        .order_by(Consumption.month.desc())
        .limit(1)
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


# ---------------------------------------------------------------------------------------------
# ranking


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
    where = [pm.clients > 0, *_in_range(pm.month, start, end)]
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
        and month_number(end) - month_number(start) + 1 == TRAILING_MONTHS
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
        .where(*_in_range(Consumption.month, start, end))
        .group_by(Consumption.client_id)
        .subquery("totals")
    )


async def ranking(
    session: AsyncSession, start: date | None, end: date | None, limit: int
) -> Ranking:
    """Clients by total in range with RANK() positions, the first `limit` of them."""
    statement = _ranking(_ranking_path(start, end), start is not None, end is not None)
    params = _params(start=start, end=end, limit=limit)
    rows = (await _run(session, statement, params)).all()
    if rows:
        first_month, last_month = _as_date(rows[0].first_month), _as_date(rows[0].last_month)
    else:
        first_month = last_month = None
    return Ranking(
        first_month=first_month,
        last_month=last_month,
        items=[
            RankingRow(
                position=int(row.position),
                client_id=int(row.client_id),
                name=row.name,
                total=_required_cents(row.total),
                mean=_required_cents(row.mean),
                months=int(row.months),
            )
            for row in rows
        ],
    )


@cache
def _ranking(path: RankingPath, has_start: bool, has_end: bool) -> Select[Any]:
    start, end = _optional(has_start, START), _optional(has_end, END)
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
        _client_name(ranked.c.client_id),
        ranked.c.total,
        ranked.c.mean,
        ranked.c.months,
        first.label("first_month"),
        last.label("last_month"),
    ).order_by(ranked.c.position, ranked.c.client_id)


# ---------------------------------------------------------------------------------------------
# tendencia


@dataclass(frozen=True, slots=True)
class TrendRow:
    client_exists: bool
    points: int
    slope: Decimal | None
    yearly_pct: Decimal | None


async def trend(
    session: AsyncSession, client_id: int, months: int, start: date | None, end: date | None
) -> TrendRow:
    """Least squares of kWh on the month number over the last `months` calendar months.

    With x = months since the latest month and y = cents: slope = N ÷ D where
    N = n·Σxy − Σx·Σy and D = n·Σx² − (Σx)²; the yearly % is slope·12 ÷ (Σy ÷ n) × 100.
    """
    statement = _trend(months, start is not None, end is not None)
    params = _params(client_id=client_id, start=start, end=end)
    row = (await _run(session, statement, params)).first()
    if row is None:
        return TrendRow(False, 0, None, None)
    return TrendRow(
        client_exists=True,
        points=int(row.n),
        slope=from_cents(row.slope),
        yearly_pct=_percent(row.yearly),
    )


@cache
def _trend(months: int, has_start: bool, has_end: bool) -> Select[Any]:
    start, end = _optional(has_start, START), _optional(has_end, END)
    in_range = _in_range(Consumption.month, start, end)
    latest = (
        select(func.max(Consumption.month))
        .where(Consumption.client_id == CLIENT, *in_range)
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
            *in_range,
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


# ---------------------------------------------------------------------------------------------
# anomalias


@dataclass(frozen=True, slots=True)
class AnomalyRow:
    client_id: int
    name: str
    month: date
    kwh: Decimal
    reference: Decimal
    deviation_pct: Decimal | None
    score: Decimal | None
    method: Literal["mad", "ano_anterior"]
    severity: Literal["alerta", "critica"]
    direction: Literal["alta", "baixa"]


def _doubled_median(dialect: str, name: str, source: CTE, value: ColumnElement[Any]) -> CTE:
    """Per (client_id, month) of `source`: n values and 2 × their median (an exact integer).

    PostgreSQL has percentile_cont (2 × the midpoint of two integers is exact in float8);
    SQLite has no median, so the middle row(s) are found with ROW_NUMBER and COUNT windows.
    """
    keys = (source.c.client_id, source.c.month)
    if dialect == "postgresql":
        return (
            select(
                *keys,
                func.count().label("n"),
                cast(func.percentile_cont(0.5).within_group(value) * 2, BigInteger).label("m2"),
            )
            .group_by(*keys)
            .cte(name)
        )
    ranked = select(
        *keys,
        value.label("v"),
        func.row_number().over(partition_by=keys, order_by=value).label("rn"),
        func.count().over(partition_by=keys).label("n"),
    ).subquery(f"{name}_ranked")
    n, rn = ranked.c.n, ranked.c.rn
    middle = or_(rn == (n + 1) // 2, rn == (n + 2) // 2)  # one row when n is odd, two if even
    return (
        select(
            ranked.c.client_id,
            ranked.c.month,
            func.max(n).label("n"),
            (func.sum(case((middle, ranked.c.v), else_=0)) * (literal(1) + func.max(n) % 2)).label(
                "m2"
            ),
        )
        .group_by(ranked.c.client_id, ranked.c.month)
        .cte(name)
    )


# Which records a judgement covers: one client's months START … END (a write's re-judgement),
# the clients in CLIENT_IDS, or every record (rebuilds).
JudgedScope = Literal["range", "clients", "all"]
CLIENT_IDS = bindparam("client_ids", type_=Integer, expanding=True)
FLAGGED_COLUMNS = (
    "client_id",
    "month",
    "kwh_cents",
    "reference_cents",
    "deviation_bp",
    "score_hundredths",
    "method",
    "severity",
    "direction",
)


def _judged_months(dialect: str, scope: JudgedScope) -> Select[Any]:
    """The anomaly rule: the flagged months among the records in scope, as `flagged_months` rows.

    The one definition of the rule (issue section 6). For each record (month m, value x), the
    client's records in m−12 … m−1 are its history, whatever the scope. Units stay integers: x
    and the year-before value in cents, the median doubled (half-cents) and the MAD quadrupled
    (quarter-cents), so the thresholds are exact comparisons:
    |0.6745 (x − med) / mad| > 3.5  ⇔  6745·|4x − 2·med₂| > 35000·mad₄.
    """
    target_filter: list[ColumnElement[bool]] = []
    if scope == "range":
        target_filter = [Consumption.client_id == CLIENT, *_in_range(Consumption.month, START, END)]
    elif scope == "clients":
        target_filter = [Consumption.client_id.in_(CLIENT_IDS)]
    targets = (
        select(Consumption.client_id, Consumption.month, cents(Consumption.kwh).label("x"))
        .where(*target_filter)
        .cte("targets")
    )
    earlier = aliased(Consumption, name="earlier")
    history = (
        select(targets.c.client_id, targets.c.month, cents(earlier.kwh).label("v"))
        .join(
            earlier,
            and_(
                earlier.client_id == targets.c.client_id,
                earlier.month >= add_months(targets.c.month, -HISTORY_MONTHS),
                earlier.month < targets.c.month,
            ),
        )
        .cte("history")
    )
    medians = _doubled_median(dialect, "medians", history, history.c.v)
    deviations = (
        select(
            history.c.client_id,
            history.c.month,
            func.abs(literal(2) * history.c.v - medians.c.m2).label("d"),
        )
        .join(
            medians,
            and_(medians.c.client_id == history.c.client_id, medians.c.month == history.c.month),
        )
        .where(medians.c.n >= MAD_MIN_HISTORY)
        .cte("deviations")
    )
    mads = _doubled_median(
        dialect, "mads", deviations, deviations.c.d
    )  # m2 here is 4 × MAD in cents
    year_before = aliased(Consumption, name="year_before")
    joined = (
        select(
            targets.c.client_id,
            targets.c.month,
            targets.c.x,
            medians.c.n,
            medians.c.m2.label("med2"),
            mads.c.m2.label("mad4"),
            cents(year_before.kwh).label("y"),
        )
        .outerjoin(
            medians,
            and_(medians.c.client_id == targets.c.client_id, medians.c.month == targets.c.month),
        )
        .outerjoin(
            mads, and_(mads.c.client_id == targets.c.client_id, mads.c.month == targets.c.month)
        )
        .outerjoin(
            year_before,
            and_(
                year_before.client_id == targets.c.client_id,
                year_before.month == add_months(targets.c.month, -12),
            ),
        )
        .subquery("joined")
    )
    x, med2, mad4, y = joined.c.x, joined.c.med2, joined.c.mad4, joined.c.y
    use_mad = joined.c.n >= MAD_MIN_HISTORY
    use_year = and_(or_(joined.c.n.is_(None), joined.c.n < MAD_MIN_HISTORY), y > 0)
    gap4 = literal(4) * x - literal(2) * med2  # x − med in quarter-cents
    gap2 = func.abs(literal(2) * x - med2)  # |x − med| in half-cents
    severity = case(
        (and_(use_mad, mad4 > 0, 6745 * func.abs(gap4) > 70_000 * mad4), literal("critica")),
        (and_(use_mad, mad4 > 0, 6745 * func.abs(gap4) > 35_000 * mad4), literal("alerta")),
        (and_(use_mad, mad4 == 0, 2 * gap2 > med2, gap2 >= med2), literal("critica")),
        (and_(use_mad, mad4 == 0, 2 * gap2 > med2), literal("alerta")),
        (and_(use_year, or_(x >= 3 * y, 3 * x <= y)), literal("critica")),
        (and_(use_year, or_(x >= 2 * y, 2 * x <= y)), literal("alerta")),
        else_=null(),
    )
    reference2 = case((use_mad, med2), else_=literal(2) * y)  # half-cents
    return select(
        joined.c.client_id,
        joined.c.month,
        x.label("kwh_cents"),
        half_up_div(reference2, literal(2)).label("reference_cents"),
        ratio_half_away(literal(2) * x - reference2, reference2, 10_000).label("deviation_bp"),
        case(
            (and_(use_mad, mad4 > 0), ratio_half_away(6745 * gap4, 100 * mad4)),
            else_=null(),
        ).label("score_hundredths"),
        case((use_mad, literal("mad")), else_=literal("ano_anterior")).label("method"),
        severity.label("severity"),
        case((literal(2) * x > reference2, literal("alta")), else_=literal("baixa")).label(
            "direction"
        ),
    ).where(severity.is_not(None))


@cache
def judge_months(dialect: str, scope: JudgedScope) -> Insert:
    """INSERT the flagged months among the records in scope into `flagged_months`.

    The caller first deletes the rows it replaces. Also run by migration 20261129_0006 (scope
    "all") to fill the table from the records that exist.
    """
    return insert(FlaggedMonth).from_select(list(FLAGGED_COLUMNS), _judged_months(dialect, scope))


async def anomalies(
    session: AsyncSession,
    *,
    client_id: int | None,
    start: date | None,
    end: date | None,
    limit: int,
) -> tuple[int, list[AnomalyRow]]:
    """Months far from the client's own recent history (robust z-score), or from a year before.

    Read from `flagged_months` (kept by every consumption write): the page is an index range
    in (month DESC, client_id) order stopped by LIMIT — for one client, a range of its primary
    key. The portfolio's total is a sum of `flagged_month_counts` over the months in range; one
    client's, a count of its range of the primary key.
    """
    statement = _anomalies(client_id is not None, start is not None, end is not None)
    params = _params(client_id=client_id, start=start, end=end, limit=limit)
    rows: Sequence[tuple[Any, ...]] = (await _run(session, statement, params)).all()
    total = int(rows[0][-1]) if rows else 0
    # Up to 1,000 rows: unpacked by position, which costs a fraction of attribute lookups.
    return total, [
        AnomalyRow(
            client_id=client,
            name=name,
            month=_required_date(month),
            kwh=_required_cents(kwh),
            reference=_required_cents(reference),
            deviation_pct=_percent(deviation),
            score=_percent(score),
            method=method,
            severity=severity,
            direction=direction,
        )
        for (
            client,
            month,
            kwh,
            reference,
            deviation,
            score,
            method,
            severity,
            direction,
            name,
            _,
        ) in rows
    ]


@cache
def _anomalies(one_client: bool, has_start: bool, has_end: bool) -> Select[Any]:
    start, end = _optional(has_start, START), _optional(has_end, END)
    flagged = FlaggedMonth
    where = _in_range(flagged.month, start, end)
    if one_client:
        where.append(flagged.client_id == CLIENT)
    newest_first = (flagged.month.desc(), flagged.client_id)
    page = (
        select(*(getattr(flagged, name) for name in FLAGGED_COLUMNS))
        .where(*where)
        .order_by(*newest_first)
        .limit(LIMIT)
        .subquery("page")
    )
    if one_client:
        total = select(func.count()).select_from(flagged).where(*where).scalar_subquery()
    else:
        counts = FlaggedMonthCount
        total = (
            select(func.coalesce(func.sum(counts.flagged), 0))
            .where(*_in_range(counts.month, start, end))
            .scalar_subquery()
        )
    return select(page, _client_name(page.c.client_id), total.label("total")).order_by(
        page.c.month.desc(), page.c.client_id
    )


# ---------------------------------------------------------------------------------------------
# Summary maintenance


@dataclass(frozen=True, slots=True)
class MonthlyValue:
    """A consumption record as the summaries see it."""

    client_id: int
    month: date
    kwh: Decimal

    @property
    def cents(self) -> int:
        return int((self.kwh * 100).to_integral_value())


def _upsert(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"summary upsert on {dialect}")


async def _neighbours(
    session: AsyncSession, value: MonthlyValue, ignore: MonthlyValue | None
) -> tuple[date | None, date | None]:
    """The client's months just before and just after `value.month`, `ignore` left out."""
    conditions: list[ColumnElement[bool]] = [Consumption.client_id == value.client_id]
    if ignore is not None and ignore.client_id == value.client_id:
        conditions.append(Consumption.month != ignore.month)
    before = select(func.max(Consumption.month)).where(*conditions, Consumption.month < value.month)
    after = select(func.min(Consumption.month)).where(*conditions, Consumption.month > value.month)
    row = (
        await session.execute(
            select(
                before.scalar_subquery().label("prev_month"),
                after.scalar_subquery().label("next_month"),
            )
        )
    ).one()
    return _as_date(row.prev_month), _as_date(row.next_month)


async def record_consumption_change(
    session: AsyncSession,
    *,
    removed: MonthlyValue | None = None,
    added: MonthlyValue | None = None,
) -> None:
    """Apply one consumption write to every summary; call it after the write is flushed.

    Insert: `added=`; delete: `removed=`; update: both (the old and the new values). The
    clients involved are locked first (FOR NO KEY UPDATE, which the foreign key's KEY SHARE
    does not block), so concurrent writes for one client see each other's months; summary
    rows are then updated in key order, so concurrent writes cannot deadlock on them.
    """
    if removed == added or (removed is None and added is None):
        return
    client_ids = sorted({v.client_id for v in (removed, added) if v is not None})
    await session.execute(
        select(Client.id)
        .where(Client.id.in_(client_ids))
        .order_by(Client.id)
        .with_for_update(key_share=True)
    )
    months: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    links: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0])
    trailing: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    totals: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    flag_counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0])
    for value, sign in ((removed, -1), (added, 1)):
        if value is None:
            continue
        amount = (sign * value.cents, sign)
        _add(months[(value.month,)], amount)
        _add(totals[(value.client_id,)], amount)
        for offset in range(TRAILING_MONTHS):  # the 12 windows that contain value.month
            _add(trailing[(value.client_id, _shift(value.month, offset))], amount)
        # Both changes are computed against the rows without either value: the removal's
        # neighbours leave out the added record, the addition's exclude itself (strict < >).
        before, after = await _neighbours(session, value, added if sign < 0 else None)
        _add(links[(value.month, before or value.month)], (sign,))
        if after is not None:
            _add(links[(after, before or after)], (-sign,))
            _add(links[(after, value.month)], (sign,))
    for client_id, start, end in judged_ranges(removed, added):
        await _rejudge(session, client_id, start, end, flag_counts)
    upsert = _upsert(_dialect(session))
    for model, deltas in (
        (ClientTotal, totals),
        (ClientTrailingYear, trailing),
        (PortfolioMonth, months),
        (PortfolioMonthLink, links),
        (FlaggedMonthCount, flag_counts),
    ):
        await _add_to_summary(session, upsert, model, deltas)


def judged_ranges(*changed: MonthlyValue | None) -> list[tuple[int, date, date]]:
    """(client, first, last month) whose flags the changed records can alter, merged per client.

    A record at month m is the value of month m and part of the history (m−12 … m−1) or the
    year before (m−12) of the months m+1 … m+12: those 13 months, and no other, are re-judged.
    """
    spans = sorted(
        (value.client_id, value.month, _shift(value.month, HISTORY_MONTHS))
        for value in changed
        if value is not None
    )
    merged: list[tuple[int, date, date]] = []
    for client_id, first, last in spans:
        if merged and merged[-1][0] == client_id and first <= _shift(merged[-1][2], 1):
            merged[-1] = (client_id, merged[-1][1], max(merged[-1][2], last))
        else:
            merged.append((client_id, first, last))
    return merged


_CLEAR_FLAGS = (
    delete(FlaggedMonth)
    .where(FlaggedMonth.client_id == CLIENT, FlaggedMonth.month >= START, FlaggedMonth.month <= END)
    .returning(FlaggedMonth.month)
)


@cache
def _judge_range(dialect: str) -> Insert:
    return judge_months(dialect, "range").returning(FlaggedMonth.month)


async def _rejudge(
    session: AsyncSession,
    client_id: int,
    start: date,
    end: date,
    counts: dict[tuple[Any, ...], list[int]],
) -> None:
    """Replace one client's flagged months in start … end by the rule's verdict on them now,
    adding the change of each month's count to `counts`."""
    connection = await session.connection()
    params = {"client_id": client_id, "start": start, "end": end}
    for statement, sign in ((_CLEAR_FLAGS, -1), (_judge_range(_dialect(session)), 1)):
        for month in (await connection.execute(statement, params)).scalars():
            counts[(_required_date(month),)][0] += sign


def _add(into: list[int], amounts: Sequence[int]) -> None:
    for index, amount in enumerate(amounts):
        into[index] += amount


async def _add_to_summary(
    session: AsyncSession, upsert: Any, model: Any, deltas: dict[tuple[Any, ...], list[int]]
) -> None:
    """Add the deltas to the summary rows with their keys, creating missing rows (one statement).

    Rows go in key order, so concurrent writers lock the summary rows in the same order.
    """
    keys = [column.name for column in model.__table__.primary_key.columns]
    amounts = [column.name for column in model.__table__.columns if column.name not in keys]
    rows = [
        dict(zip(keys + amounts, (*key, *values), strict=True))
        for key, values in sorted(deltas.items())
        if any(values)
    ]
    if not rows:
        return
    statement = upsert(model).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: getattr(model, name) + statement.excluded[name] for name in amounts},
        )
    )


def _client_links(client_id: int) -> Select[date, Any]:
    previous = func.lag(Consumption.month).over(order_by=Consumption.month)
    return select(
        Consumption.month.label("month"),
        func.coalesce(previous, Consumption.month).label("previous_month"),
    ).where(Consumption.client_id == client_id)


async def forget_client(session: AsyncSession, client_id: int) -> None:
    """Take a client's records out of the summaries; call it before deleting the client.

    The foreign key deletes a client's consumptions by cascade, out of the application's sight,
    so the client's service must call this first, in the same transaction.
    """
    await session.execute(
        select(Client.id).where(Client.id == client_id).with_for_update(key_share=True)
    )
    records = (
        select(Consumption.month, cents(Consumption.kwh).label("cents"))
        .where(Consumption.client_id == client_id)
        .subquery("records")
    )
    await session.execute(
        update(PortfolioMonth)
        .where(PortfolioMonth.month == records.c.month)
        .values(
            total_cents=PortfolioMonth.total_cents - records.c.cents,
            clients=PortfolioMonth.clients - 1,
        )
    )
    links = _client_links(client_id).subquery("links")
    await session.execute(
        update(PortfolioMonthLink)
        .where(
            PortfolioMonthLink.month == links.c.month,
            PortfolioMonthLink.previous_month == links.c.previous_month,
        )
        .values(clients=PortfolioMonthLink.clients - 1)
    )
    flagged = (
        select(FlaggedMonth.month).where(FlaggedMonth.client_id == client_id).subquery("flagged")
    )
    await session.execute(
        update(FlaggedMonthCount)
        .where(FlaggedMonthCount.month == flagged.c.month)
        .values(flagged=FlaggedMonthCount.flagged - 1)
    )


async def rebuild_summaries(session: AsyncSession) -> None:
    """Recompute every summary table from the consumptions (after a bulk load or a repair)."""
    await rebuild_portfolio_summaries(session)
    await rebuild_client_summaries(session)


async def rebuild_client_summaries(
    session: AsyncSession, client_ids: Sequence[int] | None = None
) -> None:
    """client_totals, client_trailing_years and flagged_months from the consumptions: all, or
    these clients'."""
    only: list[ColumnElement[bool]] = []
    records: list[ColumnElement[bool]] = []
    if client_ids is not None:
        only = [ClientTotal.client_id.in_(client_ids)]
        records = [Consumption.client_id.in_(client_ids)]
    await session.execute(delete(ClientTotal).where(*only))
    await session.execute(
        delete(ClientTrailingYear).where(
            *([] if client_ids is None else [ClientTrailingYear.client_id.in_(client_ids)])
        )
    )
    await rebuild_flagged_months(session, client_ids)
    await session.execute(
        insert(ClientTotal).from_select(
            ["client_id", "total_cents", "months"],
            select(Consumption.client_id, sum_cents(Consumption.kwh), func.count())
            .where(*records)
            .group_by(Consumption.client_id),
        )
    )
    # Every month from each client's first record to 11 months after its last (a dense grid,
    # so a ROWS frame of 12 is 12 calendar months), with the sum of the window ending there.
    grid = (
        select(
            Consumption.client_id,
            func.min(Consumption.month).label("month"),
            add_months(func.max(Consumption.month), TRAILING_MONTHS - 1).label("last"),
        )
        .where(*records)
        .group_by(Consumption.client_id)
        .cte("grid", recursive=True)
    )
    grid = grid.union_all(
        select(grid.c.client_id, add_months(grid.c.month, 1), grid.c.last).where(
            grid.c.month < grid.c.last
        )
    )
    record = aliased(Consumption, name="record")
    window: dict[str, Any] = {
        "partition_by": grid.c.client_id,
        "order_by": grid.c.month,
        "rows": (-(TRAILING_MONTHS - 1), 0),
    }
    rolled = (
        select(
            grid.c.client_id,
            grid.c.month,
            func.coalesce(func.sum(cents(record.kwh)).over(**window), 0).label("total_cents"),
            func.count(record.kwh).over(**window).label("months"),
        )
        .select_from(grid)
        .outerjoin(record, and_(record.client_id == grid.c.client_id, record.month == grid.c.month))
        .subquery("rolled")
    )
    await session.execute(
        insert(ClientTrailingYear).from_select(
            ["client_id", "month", "total_cents", "months"],
            select(rolled).where(rolled.c.months > 0),
        )
    )


async def rebuild_flagged_months(
    session: AsyncSession, client_ids: Sequence[int] | None = None
) -> None:
    """flagged_months from the consumptions, by the rule itself: all clients, or these; then
    flagged_month_counts from flagged_months."""
    connection = await session.connection()
    dialect = _dialect(session)
    if client_ids is None:
        await connection.execute(delete(FlaggedMonth))
        await connection.execute(judge_months(dialect, "all"))
    else:
        ids = sorted(set(client_ids))
        await connection.execute(delete(FlaggedMonth).where(FlaggedMonth.client_id.in_(ids)))
        await connection.execute(judge_months(dialect, "clients"), {"client_ids": ids})
    await rebuild_flagged_month_counts(session)


COUNT_FLAGGED_MONTHS = insert(FlaggedMonthCount).from_select(
    ["month", "flagged"],
    select(FlaggedMonth.month, func.count()).group_by(FlaggedMonth.month),
)


async def rebuild_flagged_month_counts(session: AsyncSession) -> None:
    """flagged_month_counts from flagged_months (also run by migration 20261129_0006)."""
    connection = await session.connection()
    await connection.execute(delete(FlaggedMonthCount))
    await connection.execute(COUNT_FLAGGED_MONTHS)


async def rebuild_portfolio_summaries(session: AsyncSession) -> None:
    """portfolio_months and portfolio_month_links, from the consumptions."""
    await session.execute(delete(PortfolioMonthLink))
    await session.execute(delete(PortfolioMonth))
    await session.execute(
        insert(PortfolioMonth).from_select(
            ["month", "total_cents", "clients"],
            select(Consumption.month, sum_cents(Consumption.kwh), func.count()).group_by(
                Consumption.month
            ),
        )
    )
    previous = func.lag(Consumption.month).over(
        partition_by=Consumption.client_id, order_by=Consumption.month
    )
    steps = select(
        Consumption.month.label("month"),
        func.coalesce(previous, Consumption.month).label("previous_month"),
    ).subquery("steps")
    await session.execute(
        insert(PortfolioMonthLink).from_select(
            ["month", "previous_month", "clients"],
            select(steps.c.month, steps.c.previous_month, func.count()).group_by(
                steps.c.month, steps.c.previous_month
            ),
        )
    )
