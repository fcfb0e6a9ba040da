"""Reading the Django system's tables: `auth_user`, `users_cliente`, `consumption_consumo`.

One REPEATABLE READ, read-only transaction on the source, so the three tables are read as of
one moment even while the old system still runs. Every row is read into memory: the history
of one utility (millions of records) fits, and the judging needs all of a client's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
from sqlalchemy.engine import make_url

USERS = "auth_user"
CLIENTS = "users_cliente"
CONSUMPTIONS = "consumption_consumo"


class SourceError(Exception):
    """The source cannot be read (unreachable, or not the Django schema)."""


@dataclass(frozen=True, slots=True)
class DjangoUser:
    id: int
    username: str
    password: str
    is_superuser: bool
    is_staff: bool
    is_active: bool


@dataclass(frozen=True, slots=True)
class DjangoClient:
    id: int
    nome: str
    documento: str


@dataclass(frozen=True, slots=True)
class DjangoConsumption:
    id: int
    cliente_id: int | None
    mes: date | None
    consumo_kwh: Decimal | None
    data_registro: datetime | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    users: list[DjangoUser]
    clients: list[DjangoClient]
    consumptions: list[DjangoConsumption]


def dsn(url: str) -> str:
    """A libpq URL for asyncpg, from `postgresql://…` or `postgresql+asyncpg://…`."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise SourceError("--source must be a postgresql:// URL")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _aware(value: datetime | None) -> datetime | None:
    """Django writes aware timestamps (USE_TZ); a naive one is taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


async def read(url: str) -> Snapshot:
    try:
        connection = await asyncpg.connect(dsn(url))
    except (OSError, asyncpg.PostgresError) as exc:
        raise SourceError(f"cannot connect to the source: {exc}") from None
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            users = await connection.fetch(
                f"SELECT id, username, password, is_superuser, is_staff, is_active "  # noqa: S608
                f"FROM {USERS} ORDER BY id"
            )
            clients = await connection.fetch(
                f"SELECT id, nome, documento FROM {CLIENTS} ORDER BY id"  # noqa: S608
            )
            consumptions = await connection.fetch(
                f"SELECT id, cliente_id, mes, consumo_kwh, data_registro "  # noqa: S608
                f"FROM {CONSUMPTIONS} ORDER BY id"
            )
    except asyncpg.PostgresError as exc:
        raise SourceError(f"cannot read the Django tables: {exc}") from None
    finally:
        await connection.close()
    return Snapshot(
        users=[
            DjangoUser(
                r["id"],
                r["username"],
                r["password"],
                r["is_superuser"],
                r["is_staff"],
                r["is_active"],
            )
            for r in users
        ],
        clients=[DjangoClient(r["id"], r["nome"] or "", r["documento"] or "") for r in clients],
        consumptions=[
            DjangoConsumption(
                r["id"],
                r["cliente_id"],
                r["mes"],
                _decimal(r["consumo_kwh"]),
                _aware(r["data_registro"]),
            )
            for r in consumptions
        ],
    )
