from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Numeric,
    Table,
    and_,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy import update as update_statement
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.db import SQLITE_FOREIGN_KEY, flush
from energy_api.db.functions import BoundRows, unicode_ilike

MONTH_UNIQUE = "uq_consumptions_client_id_month"
CLIENT_FK = "fk_consumptions_client_id_clients"


class DuplicateMonth(Exception):
    pass


class UnknownClient(Exception):
    pass


_CONSTRAINTS = {
    MONTH_UNIQUE: DuplicateMonth,
    CLIENT_FK: UnknownClient,
    SQLITE_FOREIGN_KEY: UnknownClient,
}


async def get(session: AsyncSession, consumption_id: int) -> tuple[Consumption, str] | None:
    result = await session.execute(
        select(Consumption, Client.name)
        .join(Client, Client.id == Consumption.client_id)
        .where(Consumption.id == consumption_id)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


async def client_of(session: AsyncSession, consumption_id: int) -> int | None:
    """The client a record belongs to now, without locking it (to learn which client to lock)."""
    return await session.scalar(
        select(Consumption.client_id).where(Consumption.id == consumption_id)
    )


async def get_locked(session: AsyncSession, consumption_id: int) -> Consumption | None:
    """The record, locked FOR UPDATE until the transaction ends; its client is locked first."""
    return await session.scalar(
        select(Consumption)
        .where(Consumption.id == consumption_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _filters(
    client_id: int | None, start: date | None, end: date | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if client_id is not None:
        conditions.append(Consumption.client_id == client_id)
    if start is not None:
        conditions.append(Consumption.month >= start)
    if end is not None:
        conditions.append(Consumption.month <= end)
    return conditions


async def list_page(
    session: AsyncSession,
    *,
    client_id: int | None,
    start: date | None,
    end: date | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[Consumption, str]], int]:
    conditions = _filters(client_id, start, end)
    rows = (
        select(Consumption, Client.name)
        .join(Client, Client.id == Consumption.client_id)
        .where(*conditions)
        .order_by(Consumption.month.desc(), Consumption.id)
        .limit(limit)
        .offset(offset)
    )
    count = select(func.count()).select_from(Consumption).where(*conditions)
    items = [(row[0], row[1]) for row in (await session.execute(rows)).all()]
    total = await session.scalar(count)
    return items, int(total or 0)


EXPORT_COLUMNS = ("id", "cliente", "cliente_nome", "mes", "consumo_kwh", "criado_em")


def export_statement(client_id: int | None, start: date | None, end: date | None) -> Any:
    """Every record matching the filters, a client's months together, oldest first: the
    order of the (client_id, month) index, so a cursor streams it without sorting."""
    return (
        select(
            Consumption.id,
            Consumption.client_id,
            Client.name,
            Consumption.month,
            Consumption.kwh,
            Consumption.created_at,
        )
        .join(Client, Client.id == Consumption.client_id)
        .where(*_filters(client_id, start, end))
        .order_by(Consumption.client_id, Consumption.month)
    )


# Each order is a unique key, so pages never overlap; "month" is the whole of the index
# (month, kwh, client_id), so its pages are read in index order however many records match.
BROWSE_ORDERS = {
    "id": (Consumption.id,),
    "month": (Consumption.month, Consumption.kwh, Consumption.client_id),
    "kwh": (Consumption.kwh, Consumption.id),
}


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def browse_page(
    session: AsyncSession,
    *,
    client_id: int | None,
    start: date | None,
    end: date | None,
    client_search: str | None,
    order: str,
    descending: bool,
    limit: int,
    offset: int,
    count_cap: int,
) -> tuple[list[tuple[Consumption, str]], int]:
    """A page of records with their client's name, and how many match, counted up to
    `count_cap` + 1 (so that counting stays an index range read of bounded length).

    `client_search` keeps the records of clients whose name or document contains it. The order
    is `BROWSE_ORDERS[order]`."""
    conditions = _filters(client_id, start, end)
    if client_search:
        pattern = _like_pattern(client_search)
        matching = select(Client.id).where(
            unicode_ilike(Client.name, pattern) | unicode_ilike(Client.document, pattern)
        )
        conditions.append(Consumption.client_id.in_(matching))
    columns = BROWSE_ORDERS[order]
    ordering: list[ColumnElement[Any]] = [c.desc() if descending else c.asc() for c in columns]
    rows = (
        select(Consumption, Client.name)
        .join(Client, Client.id == Consumption.client_id)
        .where(*conditions)
        .order_by(*ordering)
        .limit(limit)
        .offset(offset)
    )
    bounded = select(Consumption.id).where(*conditions).limit(count_cap + 1).subquery()
    items = [(row[0], row[1]) for row in (await session.execute(rows)).all()]
    total = await session.scalar(select(func.count()).select_from(bounded))
    return items, int(total or 0)


async def add(session: AsyncSession, *, client_id: int, month: date, kwh: Decimal) -> Consumption:
    consumption = Consumption(client_id=client_id, month=month, kwh=kwh)
    session.add(consumption)
    await flush(session, _CONSTRAINTS)
    return consumption


async def update(
    session: AsyncSession, consumption: Consumption, *, client_id: int, month: date, kwh: Decimal
) -> Consumption:
    """Set every field of a record the caller has locked."""
    consumption.client_id = client_id
    consumption.month = month
    consumption.kwh = kwh
    await flush(session, _CONSTRAINTS)
    return consumption


async def delete_by_id(session: AsyncSession, consumption_id: int) -> bool:
    result = await session.execute(
        delete(Consumption).where(Consumption.id == consumption_id).returning(Consumption.id)
    )
    return result.first() is not None


# --- set-based writes of many records (bulk loads, imports) ---------------------------------

_TABLE = cast(Table, Consumption.__table__)
_KEYS = BoundRows("bulk_keys", (("client_id", Integer()), ("month", Date())))
_NEW = BoundRows(
    "bulk_new",
    (
        ("client_id", Integer()),
        ("month", Date()),
        ("kwh", Numeric(10, 2)),
        ("created_at", DateTime(timezone=True)),
    ),
)
_VALUES = BoundRows("bulk_values", (("id", Integer()), ("kwh", Numeric(10, 2))))


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def existing_at(
    session: AsyncSession, keys: Sequence[tuple[int, date]]
) -> dict[tuple[int, date], tuple[int, Decimal]]:
    """(id, kWh) of the records at these (client, month) keys, in one statement."""
    if not keys:
        return {}
    dialect = _dialect(session)
    wanted = _KEYS.table(dialect)
    statement = select(
        Consumption.client_id, Consumption.month, Consumption.id, Consumption.kwh
    ).join(
        wanted,
        and_(Consumption.client_id == wanted.c.client_id, Consumption.month == wanted.c.month),
    )
    rows = await session.execute(statement, _KEYS.params(dialect, keys))
    return {(client_id, month): (id_, kwh) for client_id, month, id_, kwh in rows}


def _sqlite_timestamp(value: datetime | None) -> str | None:
    """How SQLAlchemy stores a UTC timestamp in SQLite (`energy_api.db.UtcDateTime`)."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def add_many(
    session: AsyncSession, rows: Sequence[tuple[int, date, Decimal, datetime | None]]
) -> None:
    """Insert (client, month, kWh, created_at or None for now) records in one statement; the
    caller holds the clients' locks and has checked that none of the keys is taken."""
    if not rows:
        return
    dialect = _dialect(session)
    values: list[tuple[Any, ...]] = list(rows)
    if dialect == "sqlite":
        values = [(c, m, k, _sqlite_timestamp(t)) for c, m, k, t in rows]
    new = _NEW.table(dialect)
    statement = insert(_TABLE).from_select(
        ["client_id", "month", "kwh", "created_at"],
        select(
            new.c.client_id, new.c.month, new.c.kwh, func.coalesce(new.c.created_at, func.now())
        ),
    )
    connection = await session.connection()
    await connection.execute(statement, _NEW.params(dialect, values))


async def set_kwh_many(session: AsyncSession, values: Sequence[tuple[int, Decimal]]) -> None:
    """Set the kWh of records by id, in one statement; their clients are locked."""
    if not values:
        return
    dialect = _dialect(session)
    new = _VALUES.table(dialect)
    statement = update_statement(_TABLE).where(_TABLE.c.id == new.c.id).values(kwh=new.c.kwh)
    connection = await session.connection()
    await connection.execute(statement, _VALUES.params(dialect, values))
