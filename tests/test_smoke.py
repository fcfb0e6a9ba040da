from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import create_client, create_consumption


async def test_media_consumo_smoke(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    await create_consumption(db_session, customer, "2026-01", "300.00")
    await create_consumption(db_session, customer, "2026-02", "350.50")
    response = await client.get(
        "/api/v1/analytics/media-consumo/",
        params={"cliente_id": customer.id},
        headers=viewer_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "cliente_id": customer.id,
        "media": 325.25,
        "ultimo_consumo": 350.5,
        "ultimo_mes": "2026-02-01",
        "meses": 2,
    }
