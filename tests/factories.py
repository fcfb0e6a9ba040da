"""Small async factories that write through the repositories, inside the test's session."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption

_sequence = itertools.count(100_000_000)


def cpf_from(base: int) -> str:
    """A valid CPF whose first nine digits are `base` (zero-padded)."""
    digits = [int(c) for c in f"{base % 1_000_000_000:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1), strict=True))
        remainder = total % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return "".join(map(str, digits))


def next_cpf() -> str:
    return cpf_from(next(_sequence))


async def create_client(
    session: AsyncSession, *, nome: str = "Cliente Teste", documento: str | None = None
) -> Client:
    client = Client(name=nome, document=documento or next_cpf())
    session.add(client)
    await session.flush()
    return client


async def create_consumption(
    session: AsyncSession, client: Client, mes: str, kwh: str | int | float
) -> Consumption:
    """`mes` as YYYY-MM; kWh as given, stored exactly."""
    year, month = (int(part) for part in mes.split("-")[:2])
    consumption = Consumption(
        client_id=client.id, month=date(year, month, 1), kwh=Decimal(str(kwh))
    )
    session.add(consumption)
    await session.flush()
    return consumption
