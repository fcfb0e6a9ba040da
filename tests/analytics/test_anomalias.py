"""anomalias: robust z-scores against the client's previous 12 months, or a year before."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.analytics.support import API, consecutive, customer_with, get_ok
from tests.factories import create_client

# Twelve months of history, 2024-01..2024-12. Sorted: 97 98 99 99 100 100 100 100 101 101 102
# 103 → median (100 + 100) / 2 = 100. Distances: 0 0 0 0 1 1 1 1 2 2 3 3 → MAD (1 + 1) / 2 = 1.
STEADY = [
    "100.00",
    "102.00",
    "98.00",
    "101.00",
    "99.00",
    "100.00",
    "103.00",
    "97.00",
    "100.00",
    "101.00",
    "99.00",
    "100.00",
]


async def anomalies_of(
    http: AsyncClient, headers: dict[str, str], customer_id: int, **params: Any
) -> dict[str, Any]:
    return await get_ok(http, "anomalias", headers, cliente_id=customer_id, **params)


async def test_mad_score_between_3_5_and_7_is_an_alert(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(
        db_session, consecutive("2024-01", [*STEADY, "106.00"]), nome="Padaria"
    )

    body = await anomalies_of(client, viewer_headers, customer.id)

    assert body == {
        "total": 1,
        "itens": [
            {
                "cliente_id": customer.id,
                "nome": "Padaria",
                "mes": "2025-01-01",
                "consumo_kwh": 106.0,
                "referencia_kwh": 100.0,  # the median
                "desvio_pct": 6.0,  # (106 − 100) / 100
                "score": 4.05,  # 0.6745 × (106 − 100) / 1 = 4.047
                "metodo": "mad",
                "severidade": "alerta",
                "direcao": "alta",
            }
        ],
    }


async def test_mad_score_beyond_7_is_critical(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, consecutive("2024-01", [*STEADY, "89.00"]))

    item = (await anomalies_of(client, viewer_headers, customer.id))["itens"][0]

    # 0.6745 × (89 − 100) / 1 = −7.4195
    assert (item["score"], item["severidade"], item["direcao"], item["desvio_pct"]) == (
        -7.42,
        "critica",
        "baixa",
        -11.0,
    )


async def test_mad_score_within_3_5_is_not_flagged(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # 0.6745 × (105 − 100) / 1 = 3.3725
    customer = await customer_with(db_session, consecutive("2024-01", [*STEADY, "105.00"]))

    body = await anomalies_of(client, viewer_headers, customer.id)

    assert body == {"total": 0, "itens": []}


async def test_median_and_mad_of_an_even_count_use_half_cents(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # Six months: median (100.00 + 100.01) / 2 = 100.005; every distance is 0.005 → MAD 0.005.
    # 100.04: score 0.6745 × 0.035 / 0.005 = 4.7215; deviation 0.035 / 100.005 = 0.034998 %.
    history = ["100.00", "100.01", "100.00", "100.01", "100.00", "100.01"]
    customer = await customer_with(db_session, consecutive("2025-01", [*history, "100.04"]))

    item = (await anomalies_of(client, viewer_headers, customer.id))["itens"][0]

    assert (item["mes"], item["referencia_kwh"], item["score"], item["desvio_pct"]) == (
        "2025-07-01",
        100.01,  # 100.005 rounded half-up
        4.72,
        0.03,
    )


async def test_mad_of_zero_flags_deviations_over_half_the_median(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # Flat history: MAD = 0. 150 deviates by exactly half the median (not flagged), 151 by more.
    flat = ["100.00"] * 12
    exactly_half = await customer_with(db_session, consecutive("2024-01", [*flat, "150.00"]))
    more = await customer_with(db_session, consecutive("2024-01", [*flat, "151.00"]))

    assert (await anomalies_of(client, viewer_headers, exactly_half.id))["total"] == 0
    item = (await anomalies_of(client, viewer_headers, more.id))["itens"][0]
    assert (item["metodo"], item["score"], item["severidade"], item["desvio_pct"]) == (
        "mad",
        None,
        "alerta",
        51.0,
    )


async def test_mad_of_zero_drop_to_nothing_is_critical(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # |0 − 100| reaches the whole median: critical (documented rule for MAD = 0).
    customer = await customer_with(db_session, consecutive("2024-01", [*["100.00"] * 12, "0.00"]))

    item = (await anomalies_of(client, viewer_headers, customer.id))["itens"][0]

    assert (item["severidade"], item["direcao"], item["desvio_pct"]) == ("critica", "baixa", -100.0)


async def test_fewer_than_6_history_months_fall_back_to_a_year_before(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # 2025-03's window 2024-03..2025-02 holds 5 values: r = 200 / 100 = 2 → alert.
    customer = await customer_with(
        db_session,
        {
            "2024-03": "100.00",
            "2024-06": "100.00",
            "2024-09": "100.00",
            "2024-12": "100.00",
            "2025-02": "100.00",
            "2025-03": "200.00",
        },
    )

    body = await anomalies_of(client, viewer_headers, customer.id, de="2025-03")

    assert body["itens"] == [
        {
            "cliente_id": customer.id,
            "nome": "Cliente Teste",
            "mes": "2025-03-01",
            "consumo_kwh": 200.0,
            "referencia_kwh": 100.0,  # the same month a year before
            "desvio_pct": 100.0,
            "score": None,
            "metodo": "ano_anterior",
            "severidade": "alerta",
            "direcao": "alta",
        }
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("300.00", ("critica", "alta")),  # r = 3
        ("199.99", None),  # r < 2
        ("50.00", ("alerta", "baixa")),  # r = 0.5
        ("33.33", ("critica", "baixa")),  # r = 0.3333 ≤ 1/3
        ("33.34", ("alerta", "baixa")),  # r = 0.3334 > 1/3
    ],
)
async def test_year_before_ratio_thresholds(
    client: AsyncClient,
    db_session: AsyncSession,
    viewer_headers: dict[str, str],
    value: str,
    expected: tuple[str, str] | None,
) -> None:
    customer = await customer_with(db_session, {"2024-03": "100.00", "2025-03": value})

    body = await anomalies_of(client, viewer_headers, customer.id)

    found = [(item["severidade"], item["direcao"]) for item in body["itens"]]
    assert found == ([] if expected is None else [expected])


async def test_without_enough_history_or_a_year_before_nothing_is_judged(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, consecutive("2025-01", ["1.00", "5000.00"]))

    body = await anomalies_of(client, viewer_headers, customer.id)

    assert body == {"total": 0, "itens": []}


async def test_year_before_of_zero_is_not_a_reference(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await customer_with(db_session, {"2024-03": "0.00", "2025-03": "100.00"})

    body = await anomalies_of(client, viewer_headers, customer.id)

    assert body["total"] == 0


async def test_six_history_months_are_enough_for_mad(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # 2024-07..2024-12: 100 100 100 102 102 102, median 101, every distance 1 → MAD 1.
    # 2025-01 = 108: score 0.6745 × (108 − 101) / 1 = 4.7215 → alert (no 2024-01 to fall back on).
    history = ["100.00", "100.00", "100.00", "102.00", "102.00", "102.00"]
    customer = await customer_with(db_session, consecutive("2024-07", [*history, "108.00"]))

    item = (await anomalies_of(client, viewer_headers, customer.id))["itens"][0]

    assert (item["metodo"], item["score"], item["referencia_kwh"]) == ("mad", 4.72, 101.0)


@pytest.mark.usefixtures("empty_portfolio")
async def test_portfolio_anomalies_are_newest_first_and_total_ignores_limite(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    older = await customer_with(db_session, {"2024-02": "10.00", "2025-02": "30.00"})
    newer_b = await customer_with(db_session, {"2024-05": "10.00", "2025-05": "30.00"})
    newer_a = await customer_with(db_session, {"2024-05": "10.00", "2025-05": "1.00"})

    body = await get_ok(client, "anomalias", viewer_headers, limite=2, de="2025-01")

    assert body["total"] == 3
    first, second = sorted([newer_a.id, newer_b.id])
    assert [(item["mes"], item["cliente_id"]) for item in body["itens"]] == [
        ("2025-05-01", first),  # same month: by cliente_id
        ("2025-05-01", second),
    ]
    assert older.id not in {item["cliente_id"] for item in body["itens"]}


async def test_anomalies_of_an_unknown_client_is_404(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)

    response = await client.get(
        f"{API}/anomalias/", params={"cliente_id": customer.id + 1000}, headers=viewer_headers
    )

    assert response.status_code == 404


@pytest.mark.parametrize("limite", [0, 1001])
async def test_limite_out_of_bounds_is_422(
    client: AsyncClient, viewer_headers: dict[str, str], limite: int
) -> None:
    response = await client.get(
        f"{API}/anomalias/", params={"limite": limite}, headers=viewer_headers
    )

    assert response.status_code == 422
