"""ranking: clients by total consumption in range, ties sharing a position (SQL RANK)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.analytics.support import API, customer_with, get_ok

pytestmark = pytest.mark.usefixtures("empty_portfolio")


async def test_ties_share_a_position_and_the_next_one_skips(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    first = await customer_with(db_session, {"2025-01": "500.00"}, nome="D")
    tied_a = await customer_with(db_session, {"2025-01": "300.00"}, nome="A")
    tied_b = await customer_with(db_session, {"2025-01": "100.00", "2025-02": "200.00"}, nome="B")
    last = await customer_with(db_session, {"2025-01": "100.00"}, nome="C")

    body = await get_ok(client, "ranking", viewer_headers)

    assert [(i["posicao"], i["cliente_id"], i["total_kwh"]) for i in body["itens"]] == [
        (1, first.id, 500.0),
        (2, tied_a.id, 300.0),  # ties listed by cliente_id
        (2, tied_b.id, 300.0),
        (4, last.id, 100.0),
    ]


async def test_item_fields_cover_only_months_in_range(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(
        db_session,
        {"2024-12": "9000.00", "2025-01": "100.00", "2025-02": "100.01"},
        nome="Padaria",
    )

    body = await get_ok(client, "ranking", viewer_headers, de="2025-01", ate="2025-03")

    assert body == {
        "de": "2025-01",
        "ate": "2025-03",
        "itens": [
            {
                "posicao": 1,
                "cliente_id": customer.id,
                "nome": "Padaria",
                "total_kwh": 200.01,
                "media_kwh": 100.01,  # 200.01 / 2 = 100.005 → half-up
                "meses": 2,
            }
        ],
    }


async def test_twelve_month_window_counts_only_its_months(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # 12 months (2025-01..2025-12) are read from the per-client trailing-year summary.
    both = await customer_with(
        db_session,
        {"2024-12": "9000.00", "2025-01": "100.00", "2025-12": "200.01"},
        nome="A",
    )
    one = await customer_with(db_session, {"2025-06": "300.01"}, nome="B")
    await customer_with(db_session, {"2026-01": "5000.00"}, nome="after")
    await customer_with(db_session, {"2024-01": "5.00"}, nome="before")

    body = await get_ok(client, "ranking", viewer_headers, de="2025-01", ate="2025-12")

    assert body["itens"] == [
        {
            "posicao": 1,
            "cliente_id": both.id,
            "nome": "A",
            "total_kwh": 300.01,  # 100.00 + 200.01; 2024-12 is outside the window
            "media_kwh": 150.01,  # 300.01 / 2 = 150.005 → half-up
            "meses": 2,
        },
        {
            "posicao": 1,  # the same total
            "cliente_id": one.id,
            "nome": "B",
            "total_kwh": 300.01,
            "media_kwh": 300.01,
            "meses": 1,
        },
    ]


async def test_limite_cuts_the_list(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    big = await customer_with(db_session, {"2025-01": "30.00"})
    middle = await customer_with(db_session, {"2025-01": "20.00"})
    await customer_with(db_session, {"2025-01": "10.00"})

    body = await get_ok(client, "ranking", viewer_headers, limite=2)

    assert [item["cliente_id"] for item in body["itens"]] == [big.id, middle.id]


async def test_ranking_without_data_is_empty(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    body = await get_ok(client, "ranking", viewer_headers)

    assert body == {"de": None, "ate": None, "itens": []}


@pytest.mark.parametrize("limite", [0, 101])
async def test_limite_out_of_bounds_is_422(
    client: AsyncClient, viewer_headers: dict[str, str], limite: int
) -> None:
    response = await client.get(
        f"{API}/ranking/", params={"limite": limite}, headers=viewer_headers
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["limite"]
