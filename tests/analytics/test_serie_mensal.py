"""serie-mensal: totals per month, quarter or year, with changes and moving averages."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.analytics.support import API, customer_with, get_ok

pytestmark = pytest.mark.usefixtures("empty_portfolio")


def by_period(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {point["periodo"]: point for point in body["pontos"]}


async def test_change_against_the_previous_calendar_month(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2025-01": "200.00", "2025-02": "150.00"})

    body = await get_ok(client, "serie-mensal", viewer_headers, cliente_id=customer.id)

    assert [p["variacao_pct"] for p in body["pontos"]] == [None, -25.0]  # (150 − 200) / 200


async def test_change_across_a_missing_month_is_null(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # No February: March has no previous month, it is not compared with January.
    customer = await customer_with(db_session, {"2025-01": "100.00", "2025-03": "150.00"})

    body = await get_ok(client, "serie-mensal", viewer_headers, cliente_id=customer.id)

    march = by_period(body)["2025-03"]
    assert march["variacao_pct"] is None
    assert march["media_movel_3"] == 125.0  # January is in March's 3-month window: (100+150)/2


async def test_change_from_zero_is_null(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2025-01": "0.00", "2025-02": "10.00"})

    body = await get_ok(client, "serie-mensal", viewer_headers, cliente_id=customer.id)

    assert by_period(body)["2025-02"]["variacao_pct"] is None


async def test_yearly_change_reads_the_reference_before_de(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2024-03": "80.00", "2025-03": "100.00"})

    body = await get_ok(
        client, "serie-mensal", viewer_headers, cliente_id=customer.id, de="2025-03"
    )

    assert [p["periodo"] for p in body["pontos"]] == ["2025-03"]  # 2024-03 is not reported
    assert body["pontos"][0]["variacao_anual_pct"] == 25.0  # (100 − 80) / 80


async def test_monthly_point_fields_including_february_days(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2024-01": "62.00", "2024-02": "58.00"})

    body = await get_ok(client, "serie-mensal", viewer_headers, cliente_id=customer.id)

    assert body == {
        "cliente_id": customer.id,
        "agrupar": "mes",
        "pontos": [
            {
                "periodo": "2024-01",
                "total_kwh": 62.0,
                "clientes": 1,
                "kwh_por_dia": 2.0,  # 62 / 31
                "variacao_pct": None,
                "variacao_anual_pct": None,
                "media_movel_3": 62.0,
                "media_movel_12": 62.0,
            },
            {
                "periodo": "2024-02",
                "total_kwh": 58.0,
                "clientes": 1,
                "kwh_por_dia": 2.0,  # 58 / 29 (leap year)
                "variacao_pct": -6.45,  # (58 − 62) / 62 = −6.451…
                "variacao_anual_pct": None,
                "media_movel_3": 60.0,  # (62 + 58) / 2
                "media_movel_12": 60.0,
            },
        ],
    }


async def test_moving_averages_use_the_months_present_in_the_calendar_window(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(
        db_session,
        {"2024-04": "1000.00", "2025-01": "100.00", "2025-02": "200.00", "2025-04": "400.00"},
    )

    body = await get_ok(
        client, "serie-mensal", viewer_headers, cliente_id=customer.id, de="2025-04"
    )

    april = body["pontos"][0]
    assert april["media_movel_3"] == 300.0  # Feb..Apr present: (200 + 400) / 2
    # May 2024..Apr 2025 (2024-04 is 13 months back): (100 + 200 + 400) / 3 = 233.333…
    assert april["media_movel_12"] == 233.33


async def test_quarter_grouping_sums_months_and_compares_quarters(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(
        db_session,
        {
            "2024-01": "100.00",
            "2024-02": "100.00",
            "2024-04": "50.00",
            "2025-01": "30.00",
            "2025-02": "30.00",
            "2025-03": "30.00",
        },
    )

    body = await get_ok(
        client, "serie-mensal", viewer_headers, cliente_id=customer.id, agrupar="trimestre"
    )

    assert body["agrupar"] == "trimestre"
    assert body["pontos"] == [
        {
            "periodo": "2024-T1",
            "total_kwh": 200.0,
            "clientes": 1,
            "kwh_por_dia": 3.33,  # 200 / (31 + 29) days of the months with data
            "variacao_pct": None,
            "variacao_anual_pct": None,
            "media_movel_3": None,  # monthly grouping only
            "media_movel_12": None,
        },
        {
            "periodo": "2024-T2",
            "total_kwh": 50.0,
            "clientes": 1,
            "kwh_por_dia": 1.67,  # 50 / 30
            "variacao_pct": -75.0,  # (50 − 200) / 200
            "variacao_anual_pct": None,
            "media_movel_3": None,
            "media_movel_12": None,
        },
        {
            "periodo": "2025-T1",
            "total_kwh": 90.0,
            "clientes": 1,
            "kwh_por_dia": 1.0,  # 90 / (31 + 28 + 31)
            "variacao_pct": None,  # 2024-T4 has no data
            "variacao_anual_pct": -55.0,  # (90 − 200) / 200
            "media_movel_3": None,
            "media_movel_12": None,
        },
    ]


async def test_year_grouping_counts_each_client_once_per_year(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    await customer_with(db_session, {"2024-01": "10.00", "2024-06": "10.00"})
    await customer_with(db_session, {"2024-12": "20.00", "2025-01": "40.00"})

    body = await get_ok(client, "serie-mensal", viewer_headers, agrupar="ano")

    assert body["cliente_id"] is None
    assert [(p["periodo"], p["clientes"], p["total_kwh"]) for p in body["pontos"]] == [
        ("2024", 2, 40.0),
        ("2025", 1, 40.0),
    ]
    assert body["pontos"][1]["variacao_pct"] == 0.0  # (40 − 40) / 40
    assert body["pontos"][1]["variacao_anual_pct"] == 0.0


async def test_quarter_clients_follow_gaps_between_a_clients_months(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # Three months in one quarter, then a gap, then one month two quarters later.
    await customer_with(
        db_session,
        {"2025-01": "1.00", "2025-02": "1.00", "2025-03": "1.00", "2025-09": "1.00"},
    )
    await customer_with(db_session, {"2025-03": "1.00", "2025-04": "1.00"})

    body = await get_ok(client, "serie-mensal", viewer_headers, agrupar="trimestre")

    assert [(p["periodo"], p["clientes"]) for p in body["pontos"]] == [
        ("2025-T1", 2),
        ("2025-T2", 1),
        ("2025-T3", 1),
    ]


async def test_portfolio_month_totals_add_up_clients(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    await customer_with(db_session, {"2025-01": "10.10", "2025-02": "20.00"})
    await customer_with(db_session, {"2025-02": "5.05"})

    body = await get_ok(client, "serie-mensal", viewer_headers)

    february = by_period(body)["2025-02"]
    assert (february["total_kwh"], february["clientes"]) == (25.05, 2)
    assert february["variacao_pct"] == 148.02  # (25.05 − 10.10) / 10.10 = 1.48019…
    assert february["kwh_por_dia"] == 0.89  # 25.05 / 28 = 0.8946…


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"agrupar": "trimestre", "de": "2025-02"}, "de"),
        ({"agrupar": "trimestre", "ate": "2025-05"}, "ate"),
        ({"agrupar": "ano", "de": "2025-01", "ate": "2025-11"}, "ate"),
    ],
)
async def test_grouped_series_needs_whole_periods(
    client: AsyncClient, viewer_headers: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = await client.get(f"{API}/serie-mensal/", params=params, headers=viewer_headers)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_unknown_grouping_is_422(client: AsyncClient, viewer_headers: dict[str, str]) -> None:
    response = await client.get(
        f"{API}/serie-mensal/", params={"agrupar": "semana"}, headers=viewer_headers
    )

    assert response.status_code == 422
