"""Keeping the summaries in step with a set of consumption writes: every statement of it.

A write is described by its scope: the (client, month) keys at which a record may appear,
disappear or change value. `capture` reads, from the consumptions themselves, what those keys
contribute to the summaries (each key's value, and the links of the records around them);
`apply` takes the capture from before the write and the one from after it and changes every
summary by the difference. Nothing is taken from the caller's idea of the old or new values, so
the result is exact whatever the caller believed — provided the clients in scope are locked
from before the first capture to the end of the transaction (see `energy_api.summaries`).

Every statement is set-based: the keys and the differences travel as bound row sets
(`BoundRows`), so a bulk load of 100,000 records costs the same few statements as one write.
Rows are upserted in key order, table by table in `energy_api.summaries`'s order, so
concurrent writers lock summary rows in one order and cannot deadlock on them; a row whose
amounts reach zero is deleted, so the tables hold exactly the rows a rebuild would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    select,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import Delete

from energy_api import months
from energy_api.consumptions.models import Consumption
from energy_api.db import AnySelect
from energy_api.db.functions import BoundRows, cents, shift_months
from energy_api.summaries.models import (
    ClientTotal,
    ClientTrailingYear,
    FlaggedMonth,
    FlaggedMonthCount,
    PortfolioMonth,
    PortfolioMonthLink,
)
from energy_api.summaries.rule import (
    CLIENT_IDS,
    JUDGED_AFTER_MONTHS,
    RANGES,
    TRAILING_MONTHS,
    judge_months,
)

Key = tuple[int, date]  # (client_id, month)
LinkKey = tuple[date, date]  # (month, previous_month)

SCOPE = BoundRows("summary_scope", (("client_id", Integer()), ("month", Date())))
CHANGES = BoundRows(
    "summary_changes",
    (("client_id", Integer()), ("month", Date()), ("cents", BigInteger()), ("records", Integer())),
)


@dataclass(frozen=True, slots=True)
class Capture:
    """What the scope's keys contribute to the summaries at one moment."""

    values: dict[Key, int]  # the cents of each key that has a record
    links: Counter[LinkKey]  # (month, previous month) of the records around the keys


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _upsert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@cache
def _values_statement(dialect: str) -> AnySelect:
    scope = SCOPE.table(dialect)
    return select(Consumption.client_id, Consumption.month, cents(Consumption.kwh)).join(
        scope, and_(scope.c.client_id == Consumption.client_id, scope.c.month == Consumption.month)
    )


@cache
def _links_statement(dialect: str) -> AnySelect:
    """(month, previous month, records) of the records whose link a change at the scope's keys
    can alter: the record at each key, and the next record after each key.

    A record's previous record changes only when a record appears or disappears between the
    two, so those records are all there is to compare before and after.
    """
    scope = SCOPE.table(dialect)
    later = aliased(Consumption, name="later")
    earlier = aliased(Consumption, name="earlier")
    at_keys = select(Consumption.client_id, Consumption.month).join(
        scope, and_(scope.c.client_id == Consumption.client_id, scope.c.month == Consumption.month)
    )
    next_after = select(
        scope.c.client_id,
        select(func.min(later.month))
        .where(later.client_id == scope.c.client_id, later.month > scope.c.month)
        .scalar_subquery()
        .label("month"),
    )
    affected = union(at_keys, next_after).subquery("affected")  # UNION: each record once
    previous = (
        select(func.max(earlier.month))
        .where(earlier.client_id == affected.c.client_id, earlier.month < affected.c.month)
        .scalar_subquery()
    )
    linked = (
        select(
            affected.c.month.label("month"),
            func.coalesce(previous, affected.c.month).label("previous_month"),
        )
        .where(affected.c.month.is_not(None))
        .subquery("linked")
    )
    return select(linked.c.month, linked.c.previous_month, func.count()).group_by(
        linked.c.month, linked.c.previous_month
    )


def _as_date(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


async def capture(session: AsyncSession, keys: Sequence[Key]) -> Capture:
    """What the records at and around `keys` contribute now, read from the consumptions."""
    dialect = _dialect(session)
    connection = await session.connection()
    values_in = SCOPE.params(dialect, keys)
    values = {
        (client_id, _as_date(month)): int(amount)
        for client_id, month, amount in await connection.execute(
            _values_statement(dialect), values_in
        )
    }
    links: Counter[LinkKey] = Counter()
    for month, previous, records in await connection.execute(_links_statement(dialect), values_in):
        links[(_as_date(month), _as_date(previous))] = int(records)
    return Capture(values=values, links=links)


def judged_ranges(keys: Iterable[Key]) -> list[tuple[int, date, date]]:
    """(client, first, last month) whose verdicts the keys can alter, merged per client.

    A record at month m is the value of month m and part of the history or the year before of
    m + 1 … m + JUDGED_AFTER_MONTHS: those months, and no other, are re-judged.
    """
    spans = sorted(
        (client_id, month, months.shift(month, JUDGED_AFTER_MONTHS)) for client_id, month in keys
    )
    merged: list[tuple[int, date, date]] = []
    for client_id, first, last in spans:
        if merged and merged[-1][0] == client_id and first <= months.shift(merged[-1][2], 1):
            merged[-1] = (client_id, merged[-1][1], max(merged[-1][2], last))
        else:
            merged.append((client_id, first, last))
    return merged


def _changes(keys: Sequence[Key], before: Capture, after: Capture) -> list[tuple[Any, ...]]:
    """(client, month, Δ cents, Δ records) of each key whose record changed."""
    changes: list[tuple[Any, ...]] = []
    for key in keys:
        old, new = before.values.get(key), after.values.get(key)
        if old != new:
            changes.append((*key, (new or 0) - (old or 0), (new is not None) - (old is not None)))
    return changes


async def apply(
    session: AsyncSession, keys: Sequence[Key], before: Capture, after: Capture
) -> None:
    """Change every summary by what the write changed (`after` − `before` at `keys`).

    Client-owned tables first (client_totals, client_trailing_years, flagged_months), then the
    shared ones (portfolio_months, portfolio_month_links, flagged_month_counts).
    """
    changes = _changes(keys, before, after)
    if changes:
        dialect = _dialect(session)
        connection = await session.connection()
        changed = CHANGES.params(dialect, changes)
        await connection.execute(_add_client_totals(dialect), changed)
        await connection.execute(_add_trailing_years(dialect), changed)
        if _shrinks(changes):
            await connection.execute(_drop_empty_client_rows(dialect, ClientTotal), changed)
            await connection.execute(_drop_empty_client_rows(dialect, ClientTrailingYear), changed)
    flag_counts = await replace_flags(session, judged_ranges(keys))
    await _apply_shared(session, changes, _link_deltas(before, after), flag_counts)


async def apply_removal(
    session: AsyncSession,
    keys: Sequence[Key],
    before: Capture,
    after: Capture,
    removed_flags: dict[tuple[date], int],
) -> None:
    """`apply` for clients being deleted: their own rows go with them (ON DELETE CASCADE), so
    only the shared tables change; `removed_flags` is what `flag_counts_of` said before."""
    await _apply_shared(
        session,
        _changes(keys, before, after),
        _link_deltas(before, after),
        {key: -count for key, count in removed_flags.items()},
    )


def _shrinks(changes: Sequence[tuple[Any, ...]]) -> bool:
    return any(amount < 0 or records < 0 for _, _, amount, records in changes)


def _link_deltas(before: Capture, after: Capture) -> dict[LinkKey, int]:
    links = Counter(after.links)
    links.subtract(before.links)
    return {key: count for key, count in links.items() if count}


async def _apply_shared(
    session: AsyncSession,
    changes: Sequence[tuple[Any, ...]],
    link_deltas: dict[LinkKey, int],
    flag_counts: dict[tuple[date], int],
) -> None:
    if changes:
        dialect = _dialect(session)
        connection = await session.connection()
        changed = CHANGES.params(dialect, changes)
        await connection.execute(_add_portfolio_months(dialect), changed)
        if _shrinks(changes):
            await connection.execute(_drop_empty_portfolio_months(dialect), changed)
    await add_to_shared(session, PortfolioMonthLink, link_deltas)
    await add_to_shared(session, FlaggedMonthCount, flag_counts)


def _sums_by(dialect: str, *keys: str) -> AnySelect:
    """Σ cents and Σ records of the changes, grouped by the given change columns, in order."""
    table = CHANGES.table(dialect)
    columns = [table.c[name] for name in keys]
    return (
        select(*columns, func.sum(table.c.cents), func.sum(table.c.records))
        .where(true())  # SQLite parses INSERT … SELECT … ON CONFLICT only after a WHERE
        .group_by(*columns)
        .order_by(*columns)
    )


def _adding(dialect: str, model: Any, source: AnySelect) -> Any:
    """INSERT the source rows into `model`, adding their amounts to rows that exist."""
    keys = [column.name for column in model.__table__.primary_key.columns]
    amounts = [column.name for column in model.__table__.columns if column.name not in keys]
    statement = _upsert(dialect)(model).from_select(keys + amounts, source)
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: getattr(model, name) + statement.excluded[name] for name in amounts},
    )


@cache
def _add_client_totals(dialect: str) -> Any:
    return _adding(dialect, ClientTotal, _sums_by(dialect, "client_id"))


@cache
def _add_portfolio_months(dialect: str) -> Any:
    return _adding(dialect, PortfolioMonth, _sums_by(dialect, "month"))


@cache
def _add_trailing_years(dialect: str) -> Any:
    """A change at month m is in the 12 windows ending at m … m + 11."""
    table = CHANGES.table(dialect)
    offsets = union_all(
        *(select(literal(offset, Integer).label("k")) for offset in range(TRAILING_MONTHS))
    ).subquery("offsets")
    window_end = shift_months(table.c.month, offsets.c.k)
    source = (
        select(
            table.c.client_id,
            window_end.label("window_end"),
            func.sum(table.c.cents),
            func.sum(table.c.records),
        )
        .select_from(table.join(offsets, true()))
        .where(true())
        .group_by(table.c.client_id, window_end)
        .order_by(table.c.client_id, window_end)
    )
    return _adding(dialect, ClientTrailingYear, source)


@cache
def _drop_empty_client_rows(dialect: str, model: Any) -> Delete:
    """Delete the changed clients' rows that no record is counted in any more."""
    table = CHANGES.table(dialect)
    return delete(model).where(model.months == 0, model.client_id.in_(select(table.c.client_id)))


@cache
def _drop_empty_portfolio_months(dialect: str) -> Delete:
    table = CHANGES.table(dialect)
    return delete(PortfolioMonth).where(
        PortfolioMonth.clients == 0, PortfolioMonth.month.in_(select(table.c.month))
    )


@cache
def _clear_flags(dialect: str) -> Any:
    ranges = RANGES.table(dialect)
    in_a_range = exists().where(
        ranges.c.client_id == FlaggedMonth.client_id,
        FlaggedMonth.month >= ranges.c.first,
        FlaggedMonth.month <= ranges.c.last,
    )
    return delete(FlaggedMonth).where(in_a_range).returning(FlaggedMonth.month)


@cache
def _judge_ranges(dialect: str) -> Any:
    return judge_months(dialect, "ranges").returning(FlaggedMonth.month)


async def replace_flags(
    session: AsyncSession, ranges: Sequence[tuple[int, date, date]]
) -> dict[tuple[date], int]:
    """Replace the flagged months in the ranges by the rule's verdict on them now; the change
    of each month's count of flagged months."""
    dialect = _dialect(session)
    connection = await session.connection()
    values = RANGES.params(dialect, ranges)
    counts: Counter[tuple[date]] = Counter()
    for statement, sign in ((_clear_flags(dialect), -1), (_judge_ranges(dialect), 1)):
        for month in (await connection.execute(statement, values)).scalars():
            counts[(_as_date(month),)] += sign
    return {key: count for key, count in counts.items() if count}


@cache
def _flagged_months_of(dialect: str) -> AnySelect:
    clients = CLIENT_IDS.table(dialect)
    return (
        select(FlaggedMonth.month, func.count())
        .where(FlaggedMonth.client_id.in_(select(clients.c.client_id)))
        .group_by(FlaggedMonth.month)
    )


async def flag_counts_of(
    session: AsyncSession, client_ids: Sequence[int]
) -> dict[tuple[date], int]:
    """How many flagged months these clients have in each month."""
    dialect = _dialect(session)
    connection = await session.connection()
    rows = await connection.execute(
        _flagged_months_of(dialect), CLIENT_IDS.params(dialect, [(c,) for c in client_ids])
    )
    return {(_as_date(month),): int(count) for month, count in rows}


async def add_to_shared(
    session: AsyncSession, model: Any, deltas: Mapping[Any, int | tuple[int, ...]]
) -> None:
    """Add deltas to rows of a shared table (keys → amounts), in key order, creating missing
    rows and deleting those that reach zero."""
    if not deltas:
        return
    table = model.__table__
    keys = [column.name for column in table.primary_key.columns]
    amounts = [column.name for column in table.columns if column.name not in keys]
    rows = [
        dict(zip(keys + amounts, (*key, *_amounts(value)), strict=True))
        for key, value in sorted(deltas.items())
    ]
    statement = _upsert(_dialect(session))(model).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: getattr(model, name) + statement.excluded[name] for name in amounts},
        )
    )
    shrunk = [key for key, value in deltas.items() if any(a < 0 for a in _amounts(value))]
    if shrunk:
        empty: list[ColumnElement[bool]] = [getattr(model, name) == 0 for name in amounts]
        await session.execute(
            delete(model).where(
                tuple_(*(getattr(model, name) for name in keys)).in_(shrunk), *empty
            )
        )


def _amounts(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,)


@cache
def _months_of_client() -> AnySelect:
    return select(Consumption.client_id, Consumption.month).where(
        Consumption.client_id == bindparam("client_id", type_=Integer)
    )


async def keys_of_client(session: AsyncSession, client_id: int) -> list[Key]:
    """Every (client, month) key the client has a record at."""
    rows = await session.execute(_months_of_client(), {"client_id": client_id})
    return sorted((int(client), _as_date(month)) for client, month in rows)
