"""tendencia: least-squares slope of kWh on the calendar month over the last `meses` months."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.analytics.support import API, consecutive, customer_with, get_ok
from tests.factories import create_client


async def test_falling_consumption_has_a_negative_slope(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(
        db_session, consecutive("2025-01", ["400.00", "300.00", "200.00", "100.00"])
    )

    body = await get_ok(client, "tendencia", viewer_headers, cliente_id=customer.id)

    assert body == {
        "cliente_id": customer.id,
        "meses": 12,
        "pontos": 4,
        "inclinacao_kwh_mes": -100.0,  # a straight line falling 100 a month
        "variacao_pct_ano": -480.0,  # −100 × 12 / mean 250 × 100
    }


async def test_missing_months_keep_their_calendar_distance(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # No March. x = −3, −2, 0 (months before April), y = 100, 110, 130: all on y = 130 + 10x.
    # n = 3, Σx = −5, Σy = 340, Σxy = −520, Σx² = 13;
    # slope = (3·(−520) − (−5)·340) / (3·13 − 25) = 140 / 14 = 10.
    # Yearly: 10 × 12 / (340 / 3) × 100 = 105.882… (by row position the slope would be 15).
    customer = await customer_with(
        db_session, {"2025-01": "100.00", "2025-02": "110.00", "2025-04": "130.00"}
    )

    body = await get_ok(client, "tendencia", viewer_headers, cliente_id=customer.id)

    assert (body["pontos"], body["inclinacao_kwh_mes"], body["variacao_pct_ano"]) == (
        3,
        10.0,
        105.88,
    )


async def test_window_is_the_last_meses_calendar_months_up_to_the_latest(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # meses=3 ends at March: January..March (y = 100, 110, 120), December is left out.
    customer = await customer_with(
        db_session, consecutive("2024-12", ["500.00", "100.00", "110.00", "120.00"])
    )

    body = await get_ok(client, "tendencia", viewer_headers, cliente_id=customer.id, meses=3)

    assert (body["meses"], body["pontos"], body["inclinacao_kwh_mes"]) == (3, 3, 10.0)
    assert body["variacao_pct_ano"] == 109.09  # 10 × 12 / 110 × 100 = 109.0909…


async def test_slope_rounds_half_up_to_cents(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # y = 0.00, 0.00, 0.03 (cents 0, 0, 3) at x = −2, −1, 0:
    # N = 3·0 − (−3)·3 = 9, D = 3·5 − 9 = 6 → 1.5 cents a month → 0.02 kWh.
    # Yearly: 0.015 × 12 / 0.01 × 100 = 1800 %.
    customer = await customer_with(db_session, consecutive("2025-01", ["0.00", "0.00", "0.03"]))

    body = await get_ok(client, "tendencia", viewer_headers, cliente_id=customer.id)

    assert (body["inclinacao_kwh_mes"], body["variacao_pct_ano"]) == (0.02, 1800.0)


async def test_fewer_than_three_points_give_null_trend(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2025-01": "100.00", "2025-02": "200.00"})

    body = await get_ok(client, "tendencia", viewer_headers, cliente_id=customer.id)

    assert (body["pontos"], body["inclinacao_kwh_mes"], body["variacao_pct_ano"]) == (
        2,
        None,
        None,
    )


async def test_all_zero_values_give_a_zero_slope_and_null_percentage(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, consecutive("2025-01", ["0.00", "0.00", "0.00"]))

    body = await get_ok(client, "tendencia", viewer_headers, cliente_id=customer.id)

    assert (body["inclinacao_kwh_mes"], body["variacao_pct_ano"]) == (0.0, None)


async def test_client_without_records_has_no_points(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)

    body = await get_ok(client, "tendencia", viewer_headers, cliente_id=customer.id)

    assert (body["pontos"], body["inclinacao_kwh_mes"]) == (0, None)


async def test_trend_of_an_unknown_client_is_404(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)

    response = await client.get(
        f"{API}/tendencia/", params={"cliente_id": customer.id + 1000}, headers=viewer_headers
    )

    assert response.status_code == 404


@pytest.mark.parametrize("meses", [2, 121])
async def test_meses_out_of_bounds_is_422(
    client: AsyncClient, viewer_headers: dict[str, str], meses: int
) -> None:
    response = await client.get(
        f"{API}/tendencia/", params={"cliente_id": 1, "meses": meses}, headers=viewer_headers
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["meses"]
