"""CSV answers of consumos, serie-mensal, ranking and anomalias, read back with `csv`."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.consumptions import service as consumptions_service
from energy_api.db import SessionReader
from tests.factories import create_client

CONSUMPTIONS = "/api/v1/consumos/"
ANALYTICS = "/api/v1/analytics/"


def read(response: Any, dialect: str = "rfc4180") -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    data: bytes = response.content
    if dialect == "br":
        assert data.startswith("\ufeff".encode())
        text = data.decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert not data.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


async def load(
    client: AsyncClient, headers: dict[str, str], customer: Client, values: dict[str, Any]
) -> None:
    itens = [{"cliente": customer.id, "mes": m, "consumo_kwh": v} for m, v in values.items()]
    response = await client.post("/api/v1/consumos/lote/", json={"itens": itens}, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture
async def customer(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> Client:
    customer = await create_client(db_session, nome='=HYPERLINK("x") São João')
    values: dict[str, float] = {f"2024-{m:02d}": 100 + m for m in range(1, 13)}
    values["2025-01"] = 1234.5
    values["2025-02"] = 5000  # an anomaly
    await load(client, editor_headers, customer, values)
    return customer


async def test_consumos_as_rfc_4180_csv(
    client: AsyncClient, customer: Client, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(
        CONSUMPTIONS, params={"cliente_id": customer.id, "formato": "csv"}, headers=viewer_headers
    )
    rows = read(response)
    assert list(rows[0]) == ["id", "cliente", "cliente_nome", "mes", "consumo_kwh", "criado_em"]
    assert len(rows) == 14  # limit does not apply to CSV
    assert [r["mes"] for r in rows][:2] == ["2024-01-01", "2024-02-01"]
    assert rows[12]["consumo_kwh"] == "1234.50"
    assert rows[0]["cliente"] == str(customer.id)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and 'filename="consumos.csv"' in disposition
    assert "\r\n" in response.text


async def test_text_cells_that_start_a_formula_are_neutralised(
    client: AsyncClient, customer: Client, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(
        CONSUMPTIONS, params={"cliente_id": customer.id, "formato": "csv"}, headers=viewer_headers
    )
    assert read(response)[0]["cliente_nome"] == '\'=HYPERLINK("x") São João'


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
async def test_every_formula_start_is_neutralised(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    start: str,
) -> None:
    customer = await create_client(db_session, nome=f"{start}1+1")
    await load(client, editor_headers, customer, {"2024-01": 1})
    response = await client.get(
        CONSUMPTIONS, params={"cliente_id": customer.id, "formato": "csv"}, headers=editor_headers
    )
    assert read(response)[0]["cliente_nome"] == f"'{start}1+1"


async def test_brazilian_dialect_has_bom_semicolons_and_decimal_commas(
    client: AsyncClient, customer: Client, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(
        CONSUMPTIONS,
        params={"cliente_id": customer.id, "formato": "csv", "dialeto": "br"},
        headers=viewer_headers,
    )
    rows = read(response, "br")
    assert rows[12]["consumo_kwh"] == "1234,50"
    assert rows[0]["cliente_nome"].endswith("São João")
    assert Decimal(rows[0]["consumo_kwh"].replace(",", ".")) == Decimal("101")


async def test_accept_text_csv_selects_csv_and_json_stays_the_default(
    client: AsyncClient, customer: Client, viewer_headers: dict[str, str]
) -> None:
    params = {"cliente_id": customer.id}
    as_csv = await client.get(
        CONSUMPTIONS, params=params, headers={**viewer_headers, "Accept": "text/csv"}
    )
    assert len(read(as_csv)) == 14
    as_json = await client.get(CONSUMPTIONS, params=params, headers=viewer_headers)
    assert as_json.headers["content-type"] == "application/json"
    forced = await client.get(
        CONSUMPTIONS,
        params={**params, "formato": "json"},
        headers={**viewer_headers, "Accept": "text/csv"},
    )
    assert forced.headers["content-type"] == "application/json"


async def test_bad_filters_are_a_problem_before_anything_streams(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(
        CONSUMPTIONS,
        params={"de": "2025-02", "ate": "2025-01", "formato": "csv"},
        headers=viewer_headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_export_streams_in_bounded_chunks(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    customer: Client,
) -> None:
    chunks = consumptions_service.export(
        SessionReader(db_session), client_id=customer.id, start=None, end=None
    )
    sizes = [len(chunk) async for chunk in chunks]
    assert sum(sizes) == 14
    assert max(sizes) <= consumptions_service.EXPORT_CHUNK_ROWS


async def test_serie_mensal_as_csv(
    client: AsyncClient, customer: Client, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(
        f"{ANALYTICS}serie-mensal/",
        params={"cliente_id": customer.id, "formato": "csv", "dialeto": "br"},
        headers=viewer_headers,
    )
    rows = read(response, "br")
    assert [r["periodo"] for r in rows][:2] == ["2024-01", "2024-02"]
    assert rows[-2]["total_kwh"] == "1234,50"
    assert "serie-mensal.csv" in response.headers["content-disposition"]
    json_rows = (
        await client.get(
            f"{ANALYTICS}serie-mensal/", params={"cliente_id": customer.id}, headers=viewer_headers
        )
    ).json()["pontos"]
    assert len(rows) == len(json_rows)
    assert set(rows[0]) == set(json_rows[0])


async def test_ranking_as_csv(
    client: AsyncClient, customer: Client, viewer_headers: dict[str, str], empty_portfolio: None
) -> None:
    response = await client.get(
        f"{ANALYTICS}ranking/", params={"formato": "csv"}, headers=viewer_headers
    )
    # The fixture's records were removed by empty_portfolio: an empty ranking, header only.
    assert read(response) == []
    assert response.text.startswith("posicao,cliente_id,nome,total_kwh,media_kwh,meses")


async def test_ranking_rows_match_the_json(
    client: AsyncClient, customer: Client, viewer_headers: dict[str, str]
) -> None:
    params: dict[str, str | int] = {"de": "2024-01", "ate": "2025-12", "limite": 100}
    rows = read(
        await client.get(
            f"{ANALYTICS}ranking/", params={**params, "formato": "csv"}, headers=viewer_headers
        )
    )
    items = (await client.get(f"{ANALYTICS}ranking/", params=params, headers=viewer_headers)).json()
    assert [int(r["cliente_id"]) for r in rows] == [i["cliente_id"] for i in items["itens"]]
    mine = next(r for r in rows if int(r["cliente_id"]) == customer.id)
    assert mine["nome"].startswith("'=")


async def test_anomalias_as_csv(
    client: AsyncClient, customer: Client, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(
        f"{ANALYTICS}anomalias/",
        params={"cliente_id": customer.id},
        headers={**viewer_headers, "Accept": "text/csv"},
    )
    rows = read(response)
    assert any(r["mes"] == "2025-02-01" and r["direcao"] == "alta" for r in rows)
    assert "anomalias.csv" in response.headers["content-disposition"]


def test_openapi_declares_text_csv() -> None:
    from energy_api.main import create_app
    from tests.conftest import make_settings

    paths = create_app(make_settings("sqlite+aiosqlite://")).openapi()["paths"]
    for path in (
        CONSUMPTIONS,
        *(f"{ANALYTICS}{n}/" for n in ("serie-mensal", "ranking", "anomalias")),
    ):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert {"application/json", "text/csv"} <= set(content), path
