"""GET /api/v1/analytics/media-consumo/: mean half-up, latest month's value, error paths."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from tests.factories import create_client, create_consumption

URL = "/api/v1/analytics/media-consumo/"
PROBLEM = "application/problem+json"


async def media(client: AsyncClient, headers: dict[str, str], cliente_id: Any) -> Response:
    return await client.get(URL, params={"cliente_id": cliente_id}, headers=headers)


async def client_with(session: AsyncSession, values: dict[str, str]) -> Client:
    """A client with one consumption per `{"YYYY-MM": "kWh"}`, inserted in the given order."""
    customer = await create_client(session)
    for month, kwh in values.items():
        await create_consumption(session, customer, month, kwh)
    return customer


async def test_contract_example(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await client_with(db_session, {"2026-01": "300.00", "2026-02": "350.50"})
    response = await media(client, viewer_headers, customer.id)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "cliente_id": customer.id,
        "media": 325.25,
        "ultimo_consumo": 350.5,
        "ultimo_mes": "2026-02-01",
        "meses": 2,
    }


async def test_ultimo_consumo_is_the_latest_month_not_the_latest_insertion(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await client_with(
        db_session, {"2026-03": "500.00", "2026-01": "100.00", "2026-02": "200.00"}
    )
    body = (await media(client, viewer_headers, customer.id)).json()
    assert (body["ultimo_consumo"], body["ultimo_mes"]) == (500.0, "2026-03-01")


async def test_ultimo_mes_compares_years_before_months(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await client_with(db_session, {"2026-01": "10.00", "2025-12": "20.00"})
    body = (await media(client, viewer_headers, customer.id)).json()
    assert (body["ultimo_consumo"], body["ultimo_mes"]) == (10.0, "2026-01-01")


async def test_other_clients_consumptions_are_ignored(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await client_with(db_session, {"2026-01": "100.00"})
    await client_with(db_session, {"2026-01": "900.00", "2026-05": "900.00"})
    body = (await media(client, viewer_headers, customer.id)).json()
    assert (body["media"], body["ultimo_consumo"], body["ultimo_mes"], body["meses"]) == (
        100.0,
        100.0,
        "2026-01-01",
        1,
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["0.01", "0.02"], 0.02),  # 0.015 → 0.02 (truncation would give 0.01)
        (["0.02", "0.03"], 0.03),  # 0.025 → 0.03 (half-even would give 0.02)
        (["0.01", "0.01", "0.02"], 0.01),  # 0.01333… → 0.01
        (["0.02", "0.02", "0.01"], 0.02),  # 0.01666… → 0.02
        (["99999999.99", "99999999.98"], 99999999.99),  # 99999999.985 → 99999999.99
    ],
)
async def test_media_is_rounded_half_up_to_two_decimals(
    client: AsyncClient,
    db_session: AsyncSession,
    viewer_headers: dict[str, str],
    values: list[str],
    expected: float,
) -> None:
    months = [f"2026-{index + 1:02d}" for index in range(len(values))]
    customer = await client_with(db_session, dict(zip(months, values, strict=True)))
    response = await media(client, viewer_headers, customer.id)
    assert response.status_code == 200
    assert response.json()["media"] == expected


async def test_all_zero_values_give_media_zero(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await client_with(db_session, {"2026-01": "0", "2026-02": "0"})
    response = await media(client, viewer_headers, customer.id)
    assert response.status_code == 200
    assert response.json() == {
        "cliente_id": customer.id,
        "media": 0,
        "ultimo_consumo": 0,
        "ultimo_mes": "2026-02-01",
        "meses": 2,
    }


async def test_unknown_client_returns_404(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await media(client, viewer_headers, 999_999)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_client_without_consumptions_returns_404_with_another_detail(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    empty = await media(client, viewer_headers, customer.id)
    unknown = await media(client, viewer_headers, 999_999)
    assert (empty.status_code, unknown.status_code) == (404, 404)
    assert empty.headers["content-type"] == PROBLEM
    assert empty.json()["detail"] != unknown.json()["detail"]


@pytest.mark.parametrize("cliente_id", ["abc", "1.5", "0", str(2**31), str(2**63)])
async def test_invalid_cliente_id_returns_422(
    client: AsyncClient, viewer_headers: dict[str, str], cliente_id: str
) -> None:
    response = await media(client, viewer_headers, cliente_id)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert [error["field"] for error in response.json()["errors"]] == ["cliente_id"]


async def test_missing_cliente_id_returns_422(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(URL, headers=viewer_headers)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["cliente_id"]


async def test_no_token_returns_401(client: AsyncClient) -> None:
    response = await client.get(URL, params={"cliente_id": 1})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
