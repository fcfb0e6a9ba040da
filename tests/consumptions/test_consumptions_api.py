"""The /api/v1/consumos/ contract: months, exact kWh, unique month per client, filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from tests.factories import create_client, create_consumption

URL = "/api/v1/consumos/"
PROBLEM = "application/problem+json"


def item_url(consumption_id: int) -> str:
    return f"{URL}{consumption_id}/"


def error_fields(body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in body["errors"]]


async def post(
    client: AsyncClient, headers: dict[str, str], customer: Client, **fields: Any
) -> Any:
    body: dict[str, Any] = {"cliente": customer.id, "mes": "2026-02-01", "consumo_kwh": 350.5}
    body.update(fields)
    return await client.post(URL, json=body, headers=headers)


async def stored_kwh(session: AsyncSession, consumption_id: int) -> Decimal:
    value = await session.scalar(select(Consumption.kwh).where(Consumption.id == consumption_id))
    assert value is not None
    return value


# --- create ----------------------------------------------------------------------------------


async def test_create_returns_201_with_the_contract_fields(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Maria da Silva")
    response = await client.post(
        URL,
        json={"cliente": customer.id, "mes": "2026-02-01", "consumo_kwh": 350.50},
        headers=editor_headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "cliente", "cliente_nome", "mes", "consumo_kwh", "criado_em"}
    assert isinstance(body["id"], int)
    assert body["cliente"] == customer.id
    assert body["cliente_nome"] == "Maria da Silva"
    assert body["mes"] == "2026-02-01"
    assert body["consumo_kwh"] == 350.5


async def test_consumo_kwh_is_a_json_number_in_the_response(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await post(client, editor_headers, customer, consumo_kwh=350.5)
    assert '"consumo_kwh":350.5' in response.text.replace(" ", "")


async def test_criado_em_carries_a_utc_offset(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await post(client, editor_headers, customer)
    created = datetime.fromisoformat(response.json()["criado_em"])
    assert created.utcoffset() == timedelta(0)


async def test_mes_accepts_year_month_and_returns_the_first_day(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await post(client, editor_headers, customer, mes="2026-03")
    assert response.status_code == 201
    assert response.json()["mes"] == "2026-03-01"


@pytest.mark.parametrize(
    "mes", ["2026-02-15", "2026-02-02", "2026-13", "2026-00", "2026-02-30", "garbage", "", 202602]
)
async def test_mes_rejects_anything_but_a_month_or_its_first_day(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str], mes: Any
) -> None:
    customer = await create_client(db_session)
    response = await post(client, editor_headers, customer, mes=mes)
    assert response.status_code == 422
    assert error_fields(response.json()) == ["mes"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (0, Decimal("0.00")),
        (0.07, Decimal("0.07")),
        (350.5, Decimal("350.50")),
        (1234.56, Decimal("1234.56")),
        (99999999.99, Decimal("99999999.99")),
    ],
)
async def test_consumo_kwh_is_stored_exactly(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    sent: float,
    stored: Decimal,
) -> None:
    customer = await create_client(db_session)
    response = await post(client, editor_headers, customer, consumo_kwh=sent)
    assert response.status_code == 201, response.text
    assert await stored_kwh(db_session, response.json()["id"]) == stored
    again = await client.get(item_url(response.json()["id"]), headers=editor_headers)
    assert again.json()["consumo_kwh"] == sent


@pytest.mark.parametrize(
    "value",
    [
        -0.01,
        -1,
        100000000,
        99999999.991,
        350.505,
        0.001,
        "350.50",
        "abc",
        True,
        None,
    ],
)
async def test_consumo_kwh_outside_the_contract_returns_422(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str], value: Any
) -> None:
    customer = await create_client(db_session)
    response = await post(client, editor_headers, customer, consumo_kwh=value)
    assert response.status_code == 422
    assert error_fields(response.json()) == ["consumo_kwh"]


async def test_unknown_cliente_returns_422_naming_the_field(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        URL,
        json={"cliente": 999_999, "mes": "2026-02", "consumo_kwh": 1},
        headers=editor_headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == "cliente"


async def test_duplicate_client_and_month_returns_409(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    first = await post(client, editor_headers, customer, mes="2026-02-01")
    assert first.status_code == 201
    response = await post(client, editor_headers, customer, mes="2026-02", consumo_kwh=1)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    rows = (await db_session.scalars(select(Consumption.kwh))).all()
    assert rows == [Decimal("350.50")]


async def test_same_month_for_another_client_is_accepted(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    first, second = await create_client(db_session), await create_client(db_session)
    assert (await post(client, editor_headers, first)).status_code == 201
    assert (await post(client, editor_headers, second)).status_code == 201


async def test_create_rejects_unknown_body_field(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await post(client, editor_headers, customer, criado_em="2020-01-01T00:00:00Z")
    assert response.status_code == 422
    assert error_fields(response.json()) == ["criado_em"]


async def test_viewer_cannot_create(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await post(client, viewer_headers, customer)
    assert response.status_code == 403


async def test_no_token_returns_401(client: AsyncClient) -> None:
    response = await client.get(URL)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# --- list ------------------------------------------------------------------------------------


async def test_list_is_ordered_by_mes_descending_then_id(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    first, second = await create_client(db_session), await create_client(db_session)
    january = await create_consumption(db_session, first, "2026-01", 1)
    march_second = await create_consumption(db_session, second, "2026-03", 2)
    february = await create_consumption(db_session, first, "2026-02", 3)
    march_first = await create_consumption(db_session, first, "2026-03", 4)
    response = await client.get(URL, headers=viewer_headers)
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == [
        march_second.id,
        march_first.id,
        february.id,
        january.id,
    ]
    assert (body["total"], body["limit"], body["offset"]) == (4, 50, 0)


async def test_list_items_have_the_read_shape(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Maria")
    consumption = await create_consumption(db_session, customer, "2026-02", "350.50")
    item = (await client.get(URL, headers=viewer_headers)).json()["items"][0]
    assert {key: item[key] for key in ("id", "cliente", "cliente_nome", "mes", "consumo_kwh")} == {
        "id": consumption.id,
        "cliente": customer.id,
        "cliente_nome": "Maria",
        "mes": "2026-02-01",
        "consumo_kwh": 350.5,
    }


async def test_list_filters_by_cliente_id(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    first, second = await create_client(db_session), await create_client(db_session)
    mine = await create_consumption(db_session, first, "2026-01", 1)
    await create_consumption(db_session, second, "2026-01", 2)
    response = await client.get(URL, params={"cliente_id": first.id}, headers=viewer_headers)
    body = response.json()
    assert [item["id"] for item in body["items"]] == [mine.id]
    assert body["total"] == 1


async def test_list_de_and_ate_are_inclusive(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    months = {m: await create_consumption(db_session, customer, m, 1) for m in _months(1, 6)}
    response = await client.get(
        URL, params={"de": "2026-02", "ate": "2026-04"}, headers=viewer_headers
    )
    body = response.json()
    expected = [months["2026-04"].id, months["2026-03"].id, months["2026-02"].id]
    assert [item["id"] for item in body["items"]] == expected
    assert body["total"] == 3


async def test_list_de_alone_is_a_lower_bound(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    for month in _months(1, 3):
        await create_consumption(db_session, customer, month, 1)
    response = await client.get(URL, params={"de": "2026-02"}, headers=viewer_headers)
    assert [item["mes"] for item in response.json()["items"]] == ["2026-03-01", "2026-02-01"]


async def test_list_ate_alone_is_an_upper_bound(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    for month in _months(1, 3):
        await create_consumption(db_session, customer, month, 1)
    response = await client.get(URL, params={"ate": "2026-02"}, headers=viewer_headers)
    assert [item["mes"] for item in response.json()["items"]] == ["2026-02-01", "2026-01-01"]


async def test_list_limit_and_offset_select_a_page(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    for month in _months(1, 5):
        await create_consumption(db_session, customer, month, 1)
    response = await client.get(URL, params={"limit": 2, "offset": 1}, headers=viewer_headers)
    body = response.json()
    assert [item["mes"] for item in body["items"]] == ["2026-04-01", "2026-03-01"]
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 1)


async def test_list_de_after_ate_returns_422(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(
        URL, params={"de": "2026-05", "ate": "2026-04"}, headers=viewer_headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert error_fields(response.json()) == ["de"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"de": "2026-13"}, "de"),
        ({"ate": "garbage"}, "ate"),
        ({"cliente_id": "abc"}, "cliente_id"),
        ({"cliente_id": 0}, "cliente_id"),
        ({"limit": 501}, "limit"),
    ],
)
async def test_list_rejects_invalid_filters(
    client: AsyncClient, viewer_headers: dict[str, str], params: dict[str, Any], field: str
) -> None:
    response = await client.get(URL, params=params, headers=viewer_headers)
    assert response.status_code == 422
    assert error_fields(response.json()) == [field]


def _months(first: int, last: int) -> list[str]:
    return [f"2026-{month:02d}" for month in range(first, last + 1)]


# --- get, replace, update, delete ------------------------------------------------------------


async def test_get_returns_the_record(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Maria")
    consumption = await create_consumption(db_session, customer, "2026-02", "350.50")
    response = await client.get(item_url(consumption.id), headers=viewer_headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["cliente"], body["cliente_nome"], body["mes"]) == (
        consumption.id,
        customer.id,
        "Maria",
        "2026-02-01",
    )
    assert body["consumo_kwh"] == 350.5


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_unknown_id_returns_404_problem(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    method: str,
) -> None:
    customer = await create_client(db_session)
    body = {"cliente": customer.id, "mes": "2026-02", "consumo_kwh": 1}
    json = body if method in {"PUT", "PATCH"} else None
    response = await client.request(method, item_url(999_999), json=json, headers=editor_headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_put_replaces_every_field(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    first = await create_client(db_session)
    second = await create_client(db_session, nome="Outro")
    consumption = await create_consumption(db_session, first, "2026-01", 1)
    response = await client.put(
        item_url(consumption.id),
        json={"cliente": second.id, "mes": "2026-05", "consumo_kwh": 12.34},
        headers=editor_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["cliente"], body["cliente_nome"], body["mes"], body["consumo_kwh"]) == (
        second.id,
        "Outro",
        "2026-05-01",
        12.34,
    )
    assert await stored_kwh(db_session, consumption.id) == Decimal("12.34")


@pytest.mark.parametrize("missing", ["cliente", "mes", "consumo_kwh"])
async def test_put_without_every_field_returns_422(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str], missing: str
) -> None:
    customer = await create_client(db_session)
    consumption = await create_consumption(db_session, customer, "2026-01", 1)
    body: dict[str, Any] = {"cliente": customer.id, "mes": "2026-05", "consumo_kwh": 2}
    del body[missing]
    response = await client.put(item_url(consumption.id), json=body, headers=editor_headers)
    assert response.status_code == 422
    assert error_fields(response.json()) == [missing]


async def test_patch_consumo_kwh_only_keeps_the_rest(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    consumption = await create_consumption(db_session, customer, "2026-01", "10.00")
    response = await client.patch(
        item_url(consumption.id), json={"consumo_kwh": 0.07}, headers=editor_headers
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["cliente"], body["mes"], body["consumo_kwh"]) == (customer.id, "2026-01-01", 0.07)
    assert await stored_kwh(db_session, consumption.id) == Decimal("0.07")


async def test_patch_mes_accepts_year_month(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    consumption = await create_consumption(db_session, customer, "2026-01", 1)
    response = await client.patch(
        item_url(consumption.id), json={"mes": "2025-12"}, headers=editor_headers
    )
    assert response.status_code == 200
    assert response.json()["mes"] == "2025-12-01"


async def test_patch_cliente_updates_cliente_nome(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    first = await create_client(db_session, nome="Primeiro")
    second = await create_client(db_session, nome="Segundo")
    consumption = await create_consumption(db_session, first, "2026-01", 1)
    response = await client.patch(
        item_url(consumption.id), json={"cliente": second.id}, headers=editor_headers
    )
    assert response.status_code == 200
    assert (response.json()["cliente"], response.json()["cliente_nome"]) == (second.id, "Segundo")


async def test_patch_unknown_cliente_returns_422_naming_the_field(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    consumption = await create_consumption(db_session, customer, "2026-01", 1)
    response = await client.patch(
        item_url(consumption.id), json={"cliente": 999_999}, headers=editor_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cliente"


async def test_patch_onto_a_taken_month_returns_409(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    await create_consumption(db_session, customer, "2026-01", 1)
    february = await create_consumption(db_session, customer, "2026-02", 2)
    response = await client.patch(
        item_url(february.id), json={"mes": "2026-01-01"}, headers=editor_headers
    )
    assert response.status_code == 409
    unchanged = await client.get(item_url(february.id), headers=editor_headers)
    assert unchanged.json()["mes"] == "2026-02-01"


@pytest.mark.parametrize("field", ["cliente", "mes", "consumo_kwh"])
async def test_patch_null_returns_422(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str], field: str
) -> None:
    customer = await create_client(db_session)
    consumption = await create_consumption(db_session, customer, "2026-01", 1)
    response = await client.patch(
        item_url(consumption.id), json={field: None}, headers=editor_headers
    )
    assert response.status_code == 422
    assert error_fields(response.json()) == [field]


async def test_patch_validates_like_create(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    consumption = await create_consumption(db_session, customer, "2026-01", 1)
    response = await client.patch(
        item_url(consumption.id), json={"consumo_kwh": 350.505}, headers=editor_headers
    )
    assert response.status_code == 422
    assert error_fields(response.json()) == ["consumo_kwh"]


async def test_delete_returns_204_and_the_record_is_gone(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    consumption = await create_consumption(db_session, customer, "2026-01", 1)
    response = await client.delete(item_url(consumption.id), headers=editor_headers)
    assert response.status_code == 204
    assert response.content == b""
    gone = await client.get(item_url(consumption.id), headers=editor_headers)
    assert gone.status_code == 404


async def test_viewer_cannot_delete(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    consumption = await create_consumption(db_session, customer, "2026-01", 1)
    response = await client.delete(item_url(consumption.id), headers=viewer_headers)
    assert response.status_code == 403
    still = await client.get(item_url(consumption.id), headers=viewer_headers)
    assert still.status_code == 200
