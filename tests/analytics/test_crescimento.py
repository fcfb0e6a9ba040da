"""crescimento: the client's latest month against the calendar month before and a year before."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.analytics.support import API, customer_with, get_ok, record
from tests.factories import create_client


async def test_growth_compares_calendar_month_before_and_year_before(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(
        db_session, {"2024-06": "80.00", "2025-05": "90.00", "2025-06": "120.00"}
    )

    body = await get_ok(client, "crescimento", viewer_headers, cliente_id=customer.id)

    assert body == {
        "cliente_id": customer.id,
        "mes": "2025-06-01",
        "consumo_kwh": 120.0,
        "mes_anterior_kwh": 90.0,
        "variacao_mensal_pct": 33.33,  # (120 − 90) / 90 = 0.3333…
        "mesmo_mes_ano_anterior_kwh": 80.0,
        "variacao_anual_pct": 50.0,  # (120 − 80) / 80
    }


async def test_missing_previous_month_is_null_not_the_previous_row(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2025-03": "100.00", "2025-06": "120.00"})

    body = await get_ok(client, "crescimento", viewer_headers, cliente_id=customer.id)

    assert body["mes_anterior_kwh"] is None
    assert body["variacao_mensal_pct"] is None
    assert body["mesmo_mes_ano_anterior_kwh"] is None


async def test_reference_of_zero_gives_a_null_percentage(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2025-05": "0.00", "2025-06": "10.00"})

    body = await get_ok(client, "crescimento", viewer_headers, cliente_id=customer.id)

    assert (body["mes_anterior_kwh"], body["variacao_mensal_pct"]) == (0.0, None)


async def test_latest_month_is_the_latest_calendar_month_not_the_latest_insert(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2025-06": "60.00"})
    await record(db_session, customer, "2025-05", "50.00")

    body = await get_ok(client, "crescimento", viewer_headers, cliente_id=customer.id)

    assert (body["mes"], body["mes_anterior_kwh"], body["variacao_mensal_pct"]) == (
        "2025-06-01",
        50.0,
        20.0,  # (60 − 50) / 50
    )


async def test_ate_picks_the_latest_month_up_to_it(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(
        db_session, {"2025-04": "40.00", "2025-05": "50.00", "2025-06": "60.00"}
    )

    body = await get_ok(
        client, "crescimento", viewer_headers, cliente_id=customer.id, ate="2025-05"
    )

    assert (body["mes"], body["consumo_kwh"], body["mes_anterior_kwh"]) == (
        "2025-05-01",
        50.0,
        40.0,
    )


async def test_percentages_round_half_away_from_zero(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # A fall: (7.01 − 8.00) / 8.00 × 100 = −12.375 → −12.38.
    # A rise: (8.99 − 8.00) / 8.00 × 100 = +12.375 → +12.38.
    falling = await customer_with(db_session, {"2025-05": "8.00", "2025-06": "7.01"})
    rising = await customer_with(db_session, {"2025-05": "8.00", "2025-06": "8.99"})

    fall = await get_ok(client, "crescimento", viewer_headers, cliente_id=falling.id)
    rise = await get_ok(client, "crescimento", viewer_headers, cliente_id=rising.id)

    assert (fall["variacao_mensal_pct"], rise["variacao_mensal_pct"]) == (-12.38, 12.38)


async def test_growth_of_a_client_without_records_is_404(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)

    response = await client.get(
        f"{API}/crescimento/", params={"cliente_id": customer.id}, headers=viewer_headers
    )

    assert response.status_code == 404
    assert "no consumption records" in response.json()["detail"]


async def test_growth_of_an_unknown_client_is_404(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)

    response = await client.get(
        f"{API}/crescimento/", params={"cliente_id": customer.id + 1000}, headers=viewer_headers
    )

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


async def test_growth_needs_a_client(client: AsyncClient, viewer_headers: dict[str, str]) -> None:
    response = await client.get(f"{API}/crescimento/", headers=viewer_headers)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["cliente_id"]
