"""The summaries as the consumptions say they must be: rebuilding them, and finding drift.

Each table has one definition of its expected rows (`expected_rows`), a SELECT over the
consumptions. A rebuild replaces the table's rows by it; `drift` compares the table with it
in the database (rows in one and not the other, both ways), so a verification reads no table
into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    and_,
    delete,
    except_,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from energy_api.consumptions.models import Consumption
from energy_api.db import AnySelect
from energy_api.db.functions import add_months, cents, sum_cents
from energy_api.summaries.maintenance import add_to_shared, flag_counts_of
from energy_api.summaries.models import (
    ClientTotal,
    ClientTrailingYear,
    FlaggedMonth,
    FlaggedMonthCount,
    PortfolioMonth,
    PortfolioMonthLink,
)
from energy_api.summaries.rule import CLIENT_IDS, TRAILING_MONTHS, judged_months

TableName = Literal[
    "client_totals",
    "client_trailing_years",
    "flagged_months",
    "portfolio_months",
    "portfolio_month_links",
    "flagged_month_counts",
]
# One client's rows; the rest sum over every client.
CLIENT_TABLES: tuple[TableName, ...] = ("client_totals", "client_trailing_years", "flagged_months")
SHARED_TABLES: tuple[TableName, ...] = (
    "portfolio_months",
    "portfolio_month_links",
    "flagged_month_counts",
)
MODELS: dict[TableName, Any] = {
    "client_totals": ClientTotal,
    "client_trailing_years": ClientTrailingYear,
    "flagged_months": FlaggedMonth,
    "portfolio_months": PortfolioMonth,
    "portfolio_month_links": PortfolioMonthLink,
    "flagged_month_counts": FlaggedMonthCount,
}


def _records(only_clients: bool, dialect: str) -> list[Any]:
    if not only_clients:
        return []
    clients = CLIENT_IDS.table(dialect)
    return [Consumption.client_id.in_(select(clients.c.client_id))]


def _client_totals(dialect: str, only_clients: bool) -> AnySelect:
    return (
        select(Consumption.client_id, sum_cents(Consumption.kwh), func.count())
        .where(*_records(only_clients, dialect))
        .group_by(Consumption.client_id)
    )


def _client_trailing_years(dialect: str, only_clients: bool) -> AnySelect:
    """Every month from each client's first record to 11 months after its last (a dense grid,
    so a ROWS frame of 12 is 12 calendar months), with the sum of the window ending there."""
    grid = (
        select(
            Consumption.client_id,
            func.min(Consumption.month).label("month"),
            add_months(func.max(Consumption.month), TRAILING_MONTHS - 1).label("last"),
        )
        .where(*_records(only_clients, dialect))
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
    return select(rolled).where(rolled.c.months > 0)


def _flagged_months(dialect: str, only_clients: bool) -> AnySelect:
    return judged_months(dialect, "clients" if only_clients else "all")


def _portfolio_months(dialect: str, only_clients: bool) -> AnySelect:
    return select(Consumption.month, sum_cents(Consumption.kwh), func.count()).group_by(
        Consumption.month
    )


def _portfolio_month_links(dialect: str, only_clients: bool) -> AnySelect:
    previous = func.lag(Consumption.month).over(
        partition_by=Consumption.client_id, order_by=Consumption.month
    )
    steps = select(
        Consumption.month.label("month"),
        func.coalesce(previous, Consumption.month).label("previous_month"),
    ).subquery("steps")
    return select(steps.c.month, steps.c.previous_month, func.count()).group_by(
        steps.c.month, steps.c.previous_month
    )


def _flagged_month_counts(dialect: str, only_clients: bool) -> AnySelect:
    """What the table promises: how many rows of flagged_months are at each month (whether
    those rows are right is flagged_months' own comparison)."""
    return select(FlaggedMonth.month, func.count()).group_by(FlaggedMonth.month)


_EXPECTED = {
    "client_totals": _client_totals,
    "client_trailing_years": _client_trailing_years,
    "flagged_months": _flagged_months,
    "portfolio_months": _portfolio_months,
    "portfolio_month_links": _portfolio_month_links,
    "flagged_month_counts": _flagged_month_counts,
}


@cache
def expected_rows(table: TableName, dialect: str, only_clients: bool = False) -> AnySelect:
    """The rows `table` must hold, in its column order; `only_clients`: those of the clients
    bound as `CLIENT_IDS` (client tables only)."""
    return _EXPECTED[table](dialect, only_clients)


def _columns(table: TableName) -> list[str]:
    return [column.name for column in MODELS[table].__table__.columns]


async def _lock_out_writers(session: AsyncSession) -> None:
    """Make concurrent writers wait until this transaction ends. Every writer writes the
    consumptions before it touches a summary, so with the table held in SHARE mode no writer
    is between the two. SQLite's write transaction excludes other writers already."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("LOCK TABLE consumptions IN SHARE MODE"))


async def rebuild_tables(session: AsyncSession, tables: Sequence[TableName]) -> None:
    """These tables from the consumptions (and flagged_month_counts from flagged_months),
    in the protocol's table order, with writers held off meanwhile."""
    await _lock_out_writers(session)
    dialect = session.get_bind().dialect.name
    connection = await session.connection()
    for table in (t for t in (*CLIENT_TABLES, *SHARED_TABLES) if t in tables):
        await connection.execute(delete(MODELS[table]))
        await connection.execute(
            insert(MODELS[table]).from_select(_columns(table), expected_rows(table, dialect))
        )


async def rebuild_clients(session: AsyncSession, client_ids: Sequence[int]) -> None:
    """These clients' own rows (client_totals, client_trailing_years, flagged_months) from
    their records; flagged_month_counts follows the change of their flags. The caller holds the
    clients' locks. The portfolio tables sum over every client: `rebuild_all` repairs those."""
    dialect = session.get_bind().dialect.name
    connection = await session.connection()
    ids = sorted(set(client_ids))
    values = CLIENT_IDS.params(dialect, [(client_id,) for client_id in ids])
    before = await flag_counts_of(session, ids)
    for table in CLIENT_TABLES:
        model = MODELS[table]
        await connection.execute(delete(model).where(model.client_id.in_(ids)))
        await connection.execute(
            insert(model).from_select(_columns(table), expected_rows(table, dialect, True)),
            values,
        )
    after = await flag_counts_of(session, ids)
    months = set(before) | set(after)
    deltas = {month: after.get(month, 0) - before.get(month, 0) for month in months}
    await add_to_shared(
        session, FlaggedMonthCount, {month: delta for month, delta in deltas.items() if delta}
    )


@dataclass(frozen=True, slots=True)
class Drift:
    """One table's difference from its rebuild: how many rows are missing or extra (a changed
    row is both), and the first few of each."""

    table: TableName
    missing: int
    extra: int
    missing_rows: list[tuple[Any, ...]]
    extra_rows: list[tuple[Any, ...]]


async def drift(session: AsyncSession, *, sample: int = 10) -> list[Drift]:
    """Every table that differs from what a rebuild would write, compared in the database."""
    dialect = session.get_bind().dialect.name
    found: list[Drift] = []
    for table in (*CLIENT_TABLES, *SHARED_TABLES):
        stored = select(*MODELS[table].__table__.columns)
        expected = expected_rows(table, dialect)
        missing = except_(expected, stored).subquery("missing")
        extra = except_(stored, expected).subquery("extra")
        counts = (
            await session.execute(
                select(
                    select(func.count()).select_from(missing).scalar_subquery(),
                    select(func.count()).select_from(extra).scalar_subquery(),
                )
            )
        ).one()
        if counts[0] or counts[1]:
            missing_rows = await session.execute(select(missing).order_by(*missing.c).limit(sample))
            extra_rows = await session.execute(select(extra).order_by(*extra.c).limit(sample))
            found.append(
                Drift(
                    table=table,
                    missing=int(counts[0]),
                    extra=int(counts[1]),
                    missing_rows=[tuple(row) for row in missing_rows],
                    extra_rows=[tuple(row) for row in extra_rows],
                )
            )
    return found
