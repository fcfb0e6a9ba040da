"""resumo: totals, mean, extremes and kWh per day, for one client or the whole portfolio."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.analytics.support import API, customer_with, get_ok
from tests.factories import create_client

pytestmark = pytest.mark.usefixtures("empty_portfolio")


async def test_portfolio_summary_covers_every_clients_monthly_values(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    await customer_with(db_session, {"2025-01": "100.00", "2025-02": "50.50"})
    await customer_with(db_session, {"2025-02": "30.25"})

    body = await get_ok(client, "resumo", viewer_headers)

    assert body == {
        "de": "2025-01",  # no range asked: the months with data
        "ate": "2025-02",
        "clientes": 2,
        "meses": 2,
        "total_kwh": 180.75,  # 100.00 + 50.50 + 30.25
        "media_kwh": 60.25,  # 180.75 / 3 monthly values
        "min_kwh": 30.25,
        "max_kwh": 100.0,
        "kwh_por_dia": 3.06,  # 180.75 / (31 + 28 days) = 3.0635…
    }


async def test_clients_counts_only_clients_with_a_month_inside_the_range(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    await customer_with(db_session, {"2025-01": "10.00", "2025-02": "10.00"})  # twice in range
    await customer_with(db_session, {"2025-03": "10.00"})
    # Data before and after the range, none inside it: not counted.
    await customer_with(db_session, {"2024-12": "10.00", "2025-04": "10.00"})

    body = await get_ok(client, "resumo", viewer_headers, de="2025-01", ate="2025-03")

    assert (body["clientes"], body["meses"], body["total_kwh"]) == (2, 3, 30.0)


async def test_kwh_por_dia_divides_by_the_days_of_february(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2024-02": "100.00", "2025-02": "100.00"})

    leap = await get_ok(
        client, "resumo", viewer_headers, cliente_id=customer.id, de="2024-02", ate="2024-02"
    )
    common = await get_ok(
        client, "resumo", viewer_headers, cliente_id=customer.id, de="2025-02", ate="2025-02"
    )

    assert leap["kwh_por_dia"] == 3.45  # 100 / 29 = 3.448…
    assert common["kwh_por_dia"] == 3.57  # 100 / 28 = 3.571…


async def test_client_summary_mean_rounds_half_up_and_echoes_the_range(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(
        db_session, {"2025-01": "100.00", "2025-02": "100.01", "2025-03": "900.00"}
    )
    await customer_with(db_session, {"2025-01": "999.00"})  # another client: not counted

    body = await get_ok(
        client, "resumo", viewer_headers, cliente_id=customer.id, de="2024-11", ate="2025-02"
    )

    assert body == {
        "de": "2024-11",
        "ate": "2025-02",
        "clientes": 1,
        "meses": 2,
        "total_kwh": 200.01,
        "media_kwh": 100.01,  # 200.01 / 2 = 100.005 → half-up
        "min_kwh": 100.0,
        "max_kwh": 100.01,
        "kwh_por_dia": 3.39,  # 200.01 / (31 + 28) = 3.3900…
    }


async def test_summary_of_a_range_without_data_has_zero_total_and_null_figures(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2025-01": "100.00"})

    body = await get_ok(
        client, "resumo", viewer_headers, cliente_id=customer.id, de="2023-01", ate="2023-12"
    )

    assert body == {
        "de": "2023-01",
        "ate": "2023-12",
        "clientes": 0,
        "meses": 0,
        "total_kwh": 0.0,
        "media_kwh": None,
        "min_kwh": None,
        "max_kwh": None,
        "kwh_por_dia": None,
    }


async def test_portfolio_extremes_are_read_only_from_months_in_range(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    await customer_with(db_session, {"2024-12": "1.00", "2025-01": "20.00", "2025-02": "500.00"})
    await customer_with(db_session, {"2025-01": "40.00"})

    body = await get_ok(client, "resumo", viewer_headers, de="2025-01", ate="2025-01")

    assert (body["min_kwh"], body["max_kwh"], body["media_kwh"]) == (20.0, 40.0, 30.0)


async def test_summary_of_an_unknown_client_is_404(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)

    response = await client.get(
        f"{API}/resumo/", params={"cliente_id": customer.id + 1000}, headers=viewer_headers
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
