"""POST /api/v1/consumos/lote/: JSON or CSV batches, judged row by row, written set-based,
the summaries equal to a rebuild afterwards."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.summaries import service as summaries_service
from tests.conftest import AppFactory
from tests.factories import create_client

URL = "/api/v1/consumos/lote/"
PROBLEM = "application/problem+json"


async def records_of(session: AsyncSession, customer: Client) -> dict[date, Decimal]:
    rows = await session.execute(
        select(Consumption.month, Consumption.kwh).where(Consumption.client_id == customer.id)
    )
    return {row[0]: row[1] for row in rows}


def item(customer: Client | int, mes: str, kwh: Any) -> dict[str, Any]:
    client_id = customer if isinstance(customer, int) else customer.id
    return {"cliente": client_id, "mes": mes, "consumo_kwh": kwh}


async def seed(
    client: AsyncClient, headers: dict[str, str], customer: Client, mes: str, kwh: Any
) -> None:
    """A record written through the single POST, so the summaries count it."""
    response = await client.post(
        "/api/v1/consumos/", json=item(customer, mes, kwh), headers=headers
    )
    assert response.status_code == 201, response.text


async def post(
    client: AsyncClient, headers: dict[str, str], itens: list[Any], **fields: Any
) -> Any:
    params = {"dry_run": "true"} if fields.pop("dry_run", False) else {}
    return await client.post(URL, json={"itens": itens, **fields}, headers=headers, params=params)


async def test_a_batch_inserts_every_row_and_reports_counts(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    itens = [item(customer, f"2025-{m:02d}", m * 10.5) for m in range(1, 13)]
    response = await post(client, editor_headers, itens)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "simulacao": False,
        "gravado": True,
        "total": 12,
        "inseridos": 12,
        "substituidos": 0,
        "inalterados": 0,
        "ignorados": 0,
        "rejeitados": 0,
        "erros": [],
    }
    stored = await records_of(db_session, customer)
    assert stored[date(2025, 3, 1)] == Decimal("31.50")
    assert len(stored) == 12
    assert await summaries_service.verify(db_session) == []


async def test_each_row_follows_the_single_post_rules(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    itens = [
        item(customer, "2025-01", 1),
        item(customer, "2025-02", -1),
        item(customer, "2025-13", 1),
        item(customer, "2025-03", "12"),
        item(customer, "2025-04", 1.234),
        {"cliente": customer.id, "mes": "2025-05"},
        "not an object",
        {**item(customer, "2025-06", 1), "extra": 1},
    ]
    response = await post(client, editor_headers, itens, modo="parcial")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["inseridos"], body["rejeitados"], body["total"]) == (1, 7, 8)
    by_index = {error["indice"]: error for error in body["erros"]}
    assert set(by_index) == {1, 2, 3, 4, 5, 6, 7}
    assert by_index[1]["campo"] == "consumo_kwh"
    assert by_index[2]["campo"] == "mes"
    assert by_index[5]["campo"] == "consumo_kwh"
    assert by_index[7]["campo"] == "extra"
    assert all(error["linha"] is None and error["mensagem"] for error in body["erros"])
    assert await records_of(db_session, customer) == {date(2025, 1, 1): Decimal("1.00")}
    assert await summaries_service.verify(db_session) == []


async def test_all_or_nothing_with_a_rejected_row_writes_nothing_and_is_422(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    itens = [item(customer, "2025-01", 1), item(customer, "2025-02", -5)]
    response = await post(client, editor_headers, itens)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["relatorio"]["rejeitados"] == 1
    assert body["relatorio"]["gravado"] is False
    assert body["relatorio"]["erros"][0]["indice"] == 1
    assert body["errors"][0]["field"] == "item 1: consumo_kwh"
    assert await records_of(db_session, customer) == {}


async def test_unknown_clients_and_repeated_months_are_rejected(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    itens = [
        item(customer, "2025-01", 1),
        item(customer, "2025-01-01", 2),
        item(2_000_000_000, "2025-01", 1),
    ]
    response = await post(client, editor_headers, itens, modo="parcial")
    body = response.json()
    assert body["inseridos"] == 1
    errors = {(e["indice"], e["campo"]) for e in body["erros"]}
    assert errors == {(1, "mes"), (2, "cliente")}
    assert "item 0" in body["erros"][0]["mensagem"]


@pytest.mark.parametrize(
    ("conflito", "expected", "kept"),
    [
        ("erro", {"rejeitados": 2, "inseridos": 1}, Decimal("10.00")),
        ("substituir", {"substituidos": 1, "inalterados": 1, "inseridos": 1}, Decimal("99.00")),
        ("ignorar", {"ignorados": 2, "inseridos": 1}, Decimal("10.00")),
    ],
)
async def test_conflicts_with_existing_records(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    conflito: str,
    expected: dict[str, int],
    kept: Decimal,
) -> None:
    customer = await create_client(db_session)
    await seed(client, editor_headers, customer, "2025-01", 10)
    await seed(client, editor_headers, customer, "2025-02", 20)
    itens = [
        item(customer, "2025-01", 99),
        item(customer, "2025-02", 20),
        item(customer, "2025-03", 5),
    ]
    response = await post(client, editor_headers, itens, modo="parcial", conflito=conflito)
    assert response.status_code == 200, response.text
    body = response.json()
    for key, value in expected.items():
        assert body[key] == value, (key, body)
    stored = await records_of(db_session, customer)
    assert stored[date(2025, 1, 1)] == kept
    assert stored[date(2025, 3, 1)] == Decimal("5.00")
    assert await summaries_service.verify(db_session) == []


async def test_dry_run_reports_and_writes_nothing(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    await seed(client, editor_headers, customer, "2025-01", 10)
    itens = [item(customer, "2025-01", 11), item(customer, "2025-02", 5), item(customer, "x", 1)]
    response = await post(
        client, editor_headers, itens, dry_run=True, conflito="substituir", modo="parcial"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["simulacao"] is True and body["gravado"] is False
    assert (body["inseridos"], body["substituidos"], body["rejeitados"]) == (1, 1, 1)
    assert await records_of(db_session, customer) == {date(2025, 1, 1): Decimal("10.00")}


async def test_dry_run_all_or_nothing_reports_rejections_with_200(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await post(client, editor_headers, [item(customer, "2025-01", -1)], dry_run=True)
    assert response.status_code == 200
    assert response.json()["rejeitados"] == 1


async def test_viewers_cannot_load(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await post(client, viewer_headers, [item(customer, "2025-01", 1)])
    assert response.status_code == 403


async def test_a_body_of_another_type_is_415(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        URL, content=b"x", headers={**editor_headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM


async def test_a_malformed_envelope_is_422(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    for body in (b"{", b'{"itens": 3}', b'{"itens": [], "modo": "x"}', b"[]"):
        response = await client.post(
            URL, content=body, headers={**editor_headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, body
        assert response.headers["content-type"] == PROBLEM


async def test_more_than_100000_rows_is_413(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    itens = [item(1, "2025-01", 1)] * 100_001
    response = await post(client, editor_headers, itens)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_the_bulk_route_has_its_own_body_limit(
    app_factory: AppFactory, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    from httpx import ASGITransport

    app = app_factory(max_request_body_bytes=1024, bulk_max_bytes=8192)
    customer = await create_client(db_session)
    itens = [item(customer, f"{y}-{m:02d}", 1) for y in range(2020, 2025) for m in range(1, 13)]
    payload = json.dumps({"itens": itens, "modo": "parcial"}).encode()
    assert 1024 < len(payload) < 8192
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        headers = {**editor_headers, "Content-Type": "application/json"}
        allowed = await http.post(URL, content=payload, headers=headers)
        assert allowed.status_code == 200, allowed.text
        elsewhere = await http.post("/api/v1/clientes/", content=payload, headers=headers)
        assert elsewhere.status_code == 413
        too_large = await http.post(URL, content=payload + b" " * 8192, headers=headers)
        assert too_large.status_code == 413
        assert too_large.headers["content-type"] == PROBLEM


async def test_idempotency_key_replays_a_batch(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    headers = {**editor_headers, "Idempotency-Key": "lote-1"}
    payload = {"itens": [item(customer, "2025-01", 1)]}
    first = await client.post(URL, json=payload, headers=headers)
    second = await client.post(URL, json=payload, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert len(await records_of(db_session, customer)) == 1


# --- CSV ------------------------------------------------------------------------------------


async def post_csv(
    client: AsyncClient, headers: dict[str, str], text: str | bytes, **params: str
) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return await client.post(
        URL, content=data, params=params, headers={**headers, "Content-Type": "text/csv"}
    )


async def test_csv_rfc_4180_loads_and_reports_lines(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    text = (
        "cliente,mes,consumo_kwh\r\n"
        f"{customer.id},2025-01,350.50\r\n"
        f"{customer.id},2025-02,abc\r\n"
        "\r\n"
        f"{customer.id},2025-03-01,7\r\n"
        f"{customer.id},2025-04\r\n"
    )
    response = await post_csv(client, editor_headers, text, modo="parcial")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["inseridos"] == 2
    assert [(e["linha"], e["campo"]) for e in body["erros"]] == [
        (3, "consumo_kwh"),
        (6, "linha"),
    ]
    assert all(e["indice"] is None for e in body["erros"])
    stored = await records_of(db_session, customer)
    assert stored == {date(2025, 1, 1): Decimal("350.50"), date(2025, 3, 1): Decimal("7.00")}


async def test_csv_brazilian_dialect_with_bom_and_decimal_commas(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    text = (
        "\ufeffcliente;mes;consumo_kwh\n"
        f"{customer.id};2025-01;1.234,56\n"
        f"{customer.id};2025-02;350,5\n"
        f"{customer.id};2025-03;12\n"
        f"{customer.id};2025-04;350.5\n"
    )
    response = await post_csv(client, editor_headers, text, modo="parcial")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["inseridos"] == 3
    assert [(e["linha"], e["campo"]) for e in body["erros"]] == [(5, "consumo_kwh")]
    stored = await records_of(db_session, customer)
    assert stored[date(2025, 1, 1)] == Decimal("1234.56")
    assert stored[date(2025, 2, 1)] == Decimal("350.50")


async def test_csv_without_the_header_or_not_utf8_is_400(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    for data in (b"a,b,c\n1,2025-01,1\n", b"", b"cliente,mes,consumo_kwh\n\xff,2025-01,1\n"):
        response = await post_csv(client, editor_headers, data)
        assert response.status_code == 400, data
        assert response.headers["content-type"] == PROBLEM


async def test_csv_conflict_and_dry_run_come_from_the_query(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    await seed(client, editor_headers, customer, "2025-01", 10)
    text = f"cliente,mes,consumo_kwh\n{customer.id},2025-01,11\n"
    response = await post_csv(client, editor_headers, text, conflito="substituir", dry_run="true")
    assert response.json()["substituidos"] == 1
    assert (await records_of(db_session, customer))[date(2025, 1, 1)] == Decimal("10.00")
    response = await post_csv(client, editor_headers, text, conflito="substituir")
    assert response.json()["gravado"] is True
    assert (await records_of(db_session, customer))[date(2025, 1, 1)] == Decimal("11.00")


# --- 100,000 rows ---------------------------------------------------------------------------


async def test_a_100000_row_load_leaves_the_summaries_equal_to_a_rebuild(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    """1,000 clients × 100 months, over a client that already has records (some replaced)."""
    customers = [await create_client(db_session, nome=f"Lote {n}") for n in range(1000)]
    await seed(client, editor_headers, customers[0], "2017-01", 5)
    await seed(client, editor_headers, customers[0], "2017-02", 6)
    lines = ["cliente,mes,consumo_kwh"]
    for index, customer in enumerate(customers):
        for m in range(100):
            year, month = 2017 + m // 12, m % 12 + 1
            kwh = (index * 37 + m * 11) % 900 + (m % 7) * 0.25
            if m == 50 and index % 10 == 0:
                kwh = 50_000  # a spike for the anomaly rule
            lines.append(f"{customer.id},{year}-{month:02d},{kwh}")
    response = await post_csv(
        client, editor_headers, "\n".join(lines) + "\n", conflito="substituir"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["inseridos"] + body["substituidos"] + body["inalterados"] == 100_000
    assert body["substituidos"] == 2
    ids = [customer.id for customer in customers]
    count = await db_session.scalar(
        select(func.count()).select_from(Consumption).where(Consumption.client_id.in_(ids))
    )
    assert count == 100_000
    assert await summaries_service.verify(db_session) == []


async def test_bulk_statements_may_outlast_the_request_timeout(
    postgres_only: None, database_url: str
) -> None:
    """A request's statements stop at DB_STATEMENT_TIMEOUT_MS (server) and a little after it
    (asyncpg); a bulk load's run up to BULK_STATEMENT_TIMEOUT_MS, and only inside it."""
    from sqlalchemy import text

    from energy_api.db import create_engine, create_sessionmaker, longer_statements
    from tests.conftest import make_settings

    settings = make_settings(database_url, db_statement_timeout_ms=200)
    engine = create_engine(database_url, settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            async with longer_statements(session, 5000):
                await session.execute(text("SELECT pg_sleep(0.5)"))
            driver = (await (await session.connection()).get_raw_connection()).driver_connection
            assert driver is not None
            assert driver._config.command_timeout == pytest.approx(0.2 + 2.0)
        with pytest.raises(Exception, match="statement timeout"):
            async with create_sessionmaker(engine)() as session, session.begin():
                await session.execute(text("SELECT pg_sleep(0.5)"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_other_methods_on_the_bulk_path_are_405_not_an_id(
    client: AsyncClient, editor_headers: dict[str, str], method: str
) -> None:
    """`lote/` is not a record id: PUT /consumos/lote/ must not be read as PUT /consumos/{id}/."""
    response = await client.request(
        method, "/api/v1/consumos/lote/", headers=editor_headers, json={"consumo_kwh": 1}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("application/problem+json")
