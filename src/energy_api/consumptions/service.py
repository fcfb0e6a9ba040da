"""Consumption rules: one record per client and calendar month, known clients only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.analytics import repository as analytics_repository
from energy_api.analytics.repository import MonthlyValue
from energy_api.clients import repository as clients_repository
from energy_api.consumptions import repository
from energy_api.consumptions.models import Consumption
from energy_api.consumptions.schemas import format_month
from energy_api.errors import Conflict, InvalidInput, NotFound


def _duplicate(client_id: int, month: date) -> Conflict:
    return Conflict(f"Client {client_id} already has a consumption for {format_month(month)}")


def _unknown_client(client_id: int) -> InvalidInput:
    return InvalidInput("cliente", f"Client {client_id} does not exist")


async def _client_name(session: AsyncSession, client_id: int) -> str:
    client = await clients_repository.get(session, client_id)
    if client is None:
        raise _unknown_client(client_id)
    return client.name


async def get(session: AsyncSession, consumption_id: int) -> tuple[Consumption, str]:
    found = await repository.get(session, consumption_id)
    if found is None:
        raise NotFound(f"Consumption {consumption_id} not found")
    return found


async def list_page(
    session: AsyncSession,
    *,
    client_id: int | None,
    start: date | None,
    end: date | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[Consumption, str]], int]:
    if start is not None and end is not None and start > end:
        raise InvalidInput("de", "must not be after ate")
    return await repository.list_page(
        session, client_id=client_id, start=start, end=end, limit=limit, offset=offset
    )


async def create(
    session: AsyncSession, *, client_id: int, month: date, kwh: Decimal
) -> tuple[Consumption, str]:
    name = await _client_name(session, client_id)
    try:
        consumption = await repository.add(session, client_id=client_id, month=month, kwh=kwh)
    except repository.DuplicateMonth:
        raise _duplicate(client_id, month) from None
    except repository.UnknownClient:  # deleted between the lookup and the insert
        raise _unknown_client(client_id) from None
    await analytics_repository.record_consumption_change(
        session, added=MonthlyValue(client_id, month, kwh)
    )
    return consumption, name


async def update(
    session: AsyncSession, consumption_id: int, changes: dict[str, Any]
) -> tuple[Consumption, str]:
    """Apply the given wire fields (`cliente`, `mes`, `consumo_kwh`)."""
    consumption, name = await get(session, consumption_id)
    before = MonthlyValue(consumption.client_id, consumption.month, consumption.kwh)
    values: dict[str, Any] = {}
    if "cliente" in changes and changes["cliente"] != consumption.client_id:
        name = await _client_name(session, changes["cliente"])
        values["client_id"] = changes["cliente"]
    if "mes" in changes:
        values["month"] = changes["mes"]
    if "consumo_kwh" in changes:
        values["kwh"] = changes["consumo_kwh"]
    # Read before the flush: a failed flush expires the instance.
    client_id = values.get("client_id", consumption.client_id)
    month = values.get("month", consumption.month)
    try:
        await repository.update(session, consumption, values)
    except repository.DuplicateMonth:
        raise _duplicate(client_id, month) from None
    except repository.UnknownClient:
        raise _unknown_client(client_id) from None
    await analytics_repository.record_consumption_change(
        session,
        removed=before,
        added=MonthlyValue(consumption.client_id, consumption.month, consumption.kwh),
    )
    return consumption, name


async def delete(session: AsyncSession, consumption_id: int) -> None:
    consumption, _ = await get(session, consumption_id)
    removed = MonthlyValue(consumption.client_id, consumption.month, consumption.kwh)
    if not await repository.delete_by_id(session, consumption_id):
        raise NotFound(f"Consumption {consumption_id} not found")
    await analytics_repository.record_consumption_change(session, removed=removed)
