"""Rules every analytics endpoint shares: months as YYYY-MM, de ≤ ate, 240 months, viewers."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import Role
from tests.analytics.support import API, customer_with

# Each endpoint with the parameters it needs besides the range.
ENDPOINTS = [
    ("resumo", False),
    ("serie-mensal", False),
    ("crescimento", True),
    ("ranking", False),
    ("tendencia", True),
    ("anomalias", False),
]


@pytest.fixture
async def customer_id(db_session: AsyncSession) -> int:
    customer = await customer_with(db_session, {"2025-01": "100.00"})
    return customer.id


def params_for(needs_client: bool, customer_id: int, **extra: Any) -> dict[str, Any]:
    return {**({"cliente_id": customer_id} if needs_client else {}), **extra}


@pytest.mark.parametrize(("path", "needs_client"), ENDPOINTS)
async def test_de_after_ate_is_422(
    client: AsyncClient,
    viewer_headers: dict[str, str],
    customer_id: int,
    path: str,
    needs_client: bool,
) -> None:
    params = params_for(needs_client, customer_id, de="2025-02", ate="2025-01")

    response = await client.get(f"{API}/{path}/", params=params, headers=viewer_headers)

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "de", "message": "must not be after ate"}]


@pytest.mark.parametrize(("path", "needs_client"), ENDPOINTS)
async def test_range_of_241_months_is_422(
    client: AsyncClient,
    viewer_headers: dict[str, str],
    customer_id: int,
    path: str,
    needs_client: bool,
) -> None:
    # 2005-01..2025-01 inclusive is 20 × 12 + 1 = 241 months.
    params = params_for(needs_client, customer_id, de="2005-01", ate="2025-01")

    response = await client.get(f"{API}/{path}/", params=params, headers=viewer_headers)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["ate"]


@pytest.mark.parametrize(("path", "needs_client"), ENDPOINTS)
async def test_range_of_240_months_is_accepted(
    client: AsyncClient,
    viewer_headers: dict[str, str],
    customer_id: int,
    path: str,
    needs_client: bool,
) -> None:
    # 2005-01..2024-12 inclusive is 240 months (whole years, so every grouping accepts it).
    params = params_for(needs_client, customer_id, de="2005-01", ate="2024-12")
    if path == "crescimento":  # its latest month must fall in the range
        params["ate"] = "2025-01"
        params["de"] = "2005-02"

    response = await client.get(f"{API}/{path}/", params=params, headers=viewer_headers)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("month", ["2025-13", "2025-01-01"])
@pytest.mark.parametrize(("path", "needs_client"), ENDPOINTS)
async def test_months_must_be_yyyy_mm(
    client: AsyncClient,
    viewer_headers: dict[str, str],
    customer_id: int,
    path: str,
    needs_client: bool,
    month: str,
) -> None:
    params = params_for(needs_client, customer_id, de=month)

    response = await client.get(f"{API}/{path}/", params=params, headers=viewer_headers)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["de"]


@pytest.mark.parametrize(("path", "needs_client"), ENDPOINTS)
async def test_every_endpoint_needs_a_token(
    client: AsyncClient, customer_id: int, path: str, needs_client: bool
) -> None:
    response = await client.get(f"{API}/{path}/", params=params_for(needs_client, customer_id))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("path", "needs_client"), ENDPOINTS)
async def test_viewer_role_is_enough(
    client: AsyncClient,
    auth_headers: Any,
    customer_id: int,
    path: str,
    needs_client: bool,
) -> None:
    headers = await auth_headers(Role.viewer)

    response = await client.get(
        f"{API}/{path}/", params=params_for(needs_client, customer_id), headers=headers
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("cliente_id", ["0", "2147483648", "abc"])
async def test_cliente_id_out_of_bounds_is_422(
    client: AsyncClient, viewer_headers: dict[str, str], cliente_id: str
) -> None:
    response = await client.get(
        f"{API}/resumo/", params={"cliente_id": cliente_id}, headers=viewer_headers
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["cliente_id"]
