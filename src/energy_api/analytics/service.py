from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.analytics import repository
from energy_api.analytics.schemas import MeanConsumption
from energy_api.errors import NotFound


async def mean_consumption(session: AsyncSession, client_id: int) -> MeanConsumption:
    row = await repository.mean_and_latest(session, client_id)
    if not row.client_exists:
        raise NotFound(f"Client {client_id} not found")
    if row.months == 0 or row.mean is None or row.latest_kwh is None or row.latest_month is None:
        raise NotFound(f"Client {client_id} has no consumption records")
    return MeanConsumption(
        cliente_id=client_id,
        media=row.mean,
        ultimo_consumo=row.latest_kwh,
        ultimo_mes=row.latest_month,
        meses=row.months,
    )
