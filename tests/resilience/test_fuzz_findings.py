"""Regressions for what the schemathesis run found."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import create_client, create_consumption


async def test_moving_a_consumption_onto_an_existing_month_returns_409(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    customer = await create_client(db_session)
    await create_consumption(db_session, customer, "2026-01", 100)
    february = await create_consumption(db_session, customer, "2026-02", 200)
    await db_session.commit()
    response = await client.put(
        f"/api/v1/consumos/{february.id}/",
        json={"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 5},
        headers=editor_headers,
    )
    assert response.status_code == 409
    assert (
        response.json()["detail"] == f"Client {customer.id} already has a consumption for 2026-01"
    )


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/clientes/1/", "DELETE, GET, PATCH, PUT"),
        ("/api/v1/clientes/", "GET, POST"),
        ("/health/", "GET"),
    ],
)
async def test_method_not_allowed_lists_every_method_of_the_path(
    client: AsyncClient, path: str, allow: str
) -> None:
    response = await client.request("TRACE", path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


async def test_a_boolean_client_id_returns_422(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    await create_client(db_session)
    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": True, "mes": "2026-01", "consumo_kwh": 1},
        headers=editor_headers,
    )
    assert response.status_code == 422


async def test_month_pattern_states_the_accepted_range(client: AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    pattern = schemas["ConsumptionCreate"]["properties"]["mes"]["pattern"]
    assert re.fullmatch(pattern, "1900-01")
    assert re.fullmatch(pattern, "2199-12-01")
    assert re.fullmatch(pattern, "2026-02-01")
    for outside in ("1899-12", "2200-01", "0001-01", "0000-01", "9999-12"):
        assert not re.fullmatch(pattern, outside)
