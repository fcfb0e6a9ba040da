"""The accepted months, 1900-01 … 2199-12: both ends work end to end, one month beyond is a 422
that names the field, and the schema says so."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api import months
from energy_api.summaries import service as summaries_service
from tests.factories import create_client

ANALYTICS = "/api/v1/analytics"


async def post(client: AsyncClient, headers: dict[str, str], body: dict[str, object]) -> int:
    return (await client.post("/api/v1/consumos/", json=body, headers=headers)).status_code


async def test_the_first_and_last_months_work_end_to_end(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    customer = await create_client(db_session)
    for mes, kwh in (("1900-01", 10), ("1900-02", 30), ("2199-11", 10), ("2199-12", 40)):
        body = {"cliente": customer.id, "mes": mes, "consumo_kwh": kwh}
        assert await post(client, editor_headers, body) == 201

    queries: list[tuple[str, dict[str, str | int]]] = [
        ("resumo", {"de": "1900-01", "ate": "1900-12"}),
        ("resumo", {"cliente_id": customer.id}),
        ("serie-mensal", {"de": "1900-01"}),
        ("serie-mensal", {"de": "2199-01", "ate": "2199-12", "agrupar": "trimestre"}),
        ("serie-mensal", {"cliente_id": customer.id, "de": "1900-01", "agrupar": "ano"}),
        ("ranking", {"de": "2199-01", "ate": "2199-12"}),
        ("ranking", {"de": "1900-01", "ate": "1900-12"}),
        ("crescimento", {"cliente_id": customer.id}),
        ("crescimento", {"cliente_id": customer.id, "ate": "1900-02"}),
        ("tendencia", {"cliente_id": customer.id, "ate": "1900-12"}),
        ("media-consumo", {"cliente_id": customer.id}),
        ("anomalias", {"de": "2199-01", "ate": "2199-12"}),
    ]
    answers = {}
    for path, params in queries:
        response = await client.get(f"{ANALYTICS}/{path}/", params=params, headers=viewer_headers)
        assert response.status_code == 200, (path, params, response.text)
        answers[(path, tuple(params))] = response.json()

    growth = answers[("crescimento", ("cliente_id", "ate"))]
    assert (growth["mes"], growth["consumo_kwh"], growth["mes_anterior_kwh"]) == (
        "1900-02-01",
        30.0,
        10.0,
    )
    assert answers[("tendencia", ("cliente_id", "ate"))]["pontos"] == 2
    assert answers[("crescimento", ("cliente_id",))]["mes"] == "2199-12-01"
    assert await summaries_service.verify(db_session) == []


async def test_a_record_moves_to_the_last_month_and_back(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    created = await client.post(
        "/api/v1/consumos/",
        json={"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 5},
        headers=editor_headers,
    )
    path = f"/api/v1/consumos/{created.json()['id']}/"

    last = await client.patch(path, json={"mes": "2199-12"}, headers=editor_headers)
    first = await client.patch(path, json={"mes": "1900-01-01"}, headers=editor_headers)

    assert (last.status_code, last.json()["mes"]) == (200, "2199-12-01")
    assert (first.status_code, first.json()["mes"]) == (200, "1900-01-01")
    assert await summaries_service.verify(db_session) == []


@pytest.mark.parametrize("mes", ["1899-12", "2200-01", "0001-01", "9999-12", "1899-12-01"])
async def test_a_month_outside_the_range_in_a_body_is_a_422_naming_mes(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str], mes: str
) -> None:
    customer = await create_client(db_session)
    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": customer.id, "mes": mes, "consumo_kwh": 1},
        headers=editor_headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "mes", "message": f"must be between {months.RANGE_TEXT}"}
    ]


async def test_a_patch_beyond_the_last_month_is_a_422(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    created = await client.post(
        "/api/v1/consumos/",
        json={"cliente": customer.id, "mes": "2199-12", "consumo_kwh": 5},
        headers=editor_headers,
    )
    response = await client.patch(
        f"/api/v1/consumos/{created.json()['id']}/",
        json={"mes": "2200-01"},
        headers=editor_headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "mes"


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/api/v1/consumos/", "de", "1899-12"),
        ("/api/v1/consumos/", "ate", "2200-01"),
        (f"{ANALYTICS}/resumo/", "de", "1899-12"),
        (f"{ANALYTICS}/serie-mensal/", "ate", "2200-01"),
        (f"{ANALYTICS}/ranking/", "de", "0001-01"),
        (f"{ANALYTICS}/anomalias/", "ate", "9999-12"),
    ],
)
async def test_a_month_outside_the_range_in_a_query_is_a_422_naming_it(
    client: AsyncClient, viewer_headers: dict[str, str], path: str, name: str, value: str
) -> None:
    response = await client.get(path, params={name: value}, headers=viewer_headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": name, "message": f"must be between {months.RANGE_TEXT}"}
    ]


async def test_the_schema_states_the_range_for_bodies_and_queries(
    client_without_database: AsyncClient,
) -> None:
    document = (await client_without_database.get("/openapi.json")).json()
    body = document["components"]["schemas"]["ConsumptionCreate"]["properties"]["mes"]
    assert months.RANGE_TEXT in body["description"]
    for path in ("/api/v1/analytics/resumo/", "/api/v1/consumos/"):
        for parameter in document["paths"][path]["get"]["parameters"]:
            if parameter["name"] in {"de", "ate"}:
                assert months.RANGE_TEXT in parameter["description"]
    query = next(
        parameter["schema"]["anyOf"][0]  # optional: the month, or null
        for parameter in document["paths"]["/api/v1/analytics/resumo/"]["get"]["parameters"]
        if parameter["name"] == "de"
    )
    for schema, samples in ((body, ("1900-01", "2199-12-01")), (query, ("1900-01", "2199-12"))):
        assert all(re.fullmatch(schema["pattern"], sample) for sample in samples)
        assert not re.fullmatch(schema["pattern"], "1899-12")
        assert not re.fullmatch(schema["pattern"], "2200-01")
