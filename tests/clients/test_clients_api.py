"""The /api/v1/clientes/ contract: create, list, read, replace, update, delete, roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from tests.factories import create_client, create_consumption

URL = "/api/v1/clientes/"
PROBLEM = "application/problem+json"

# Check digits computed by hand with the mod-11 rule (see tests/clients/test_documents.py).
CPF = "52998224725"
CPF_FORMATTED = "529.982.247-25"
OTHER_CPF = "11144477735"
CNPJ = "11222333000181"
ALPHANUMERIC_CNPJ = "12ABC34501DE35"


def item_url(client_id: int) -> str:
    return f"{URL}{client_id}/"


def error_fields(body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in body["errors"]]


# --- create ----------------------------------------------------------------------------------


async def test_create_returns_201_with_id_nome_documento(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        URL, json={"nome": "Maria da Silva", "documento": CPF}, headers=editor_headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "nome", "documento"}
    assert isinstance(body["id"], int)
    assert body["nome"] == "Maria da Silva"
    assert body["documento"] == CPF


async def test_created_client_is_readable_by_id(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    created = await client.post(
        URL, json={"nome": "Maria", "documento": CPF}, headers=editor_headers
    )
    response = await client.get(item_url(created.json()["id"]), headers=editor_headers)
    assert response.status_code == 200
    assert response.json() == created.json()


async def test_create_trims_nome(client: AsyncClient, editor_headers: dict[str, str]) -> None:
    response = await client.post(
        URL, json={"nome": "  Maria da Silva \t", "documento": CPF}, headers=editor_headers
    )
    assert response.status_code == 201
    assert response.json()["nome"] == "Maria da Silva"


async def test_create_rejects_nome_blank_after_trimming(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        URL, json={"nome": "   ", "documento": CPF}, headers=editor_headers
    )
    assert response.status_code == 422
    assert error_fields(response.json()) == ["nome"]


async def test_create_accepts_nome_of_255_characters(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        URL, json={"nome": "a" * 255, "documento": CPF}, headers=editor_headers
    )
    assert response.status_code == 201
    assert response.json()["nome"] == "a" * 255


async def test_create_rejects_nome_of_256_characters(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        URL, json={"nome": "a" * 256, "documento": CPF}, headers=editor_headers
    )
    assert response.status_code == 422
    assert error_fields(response.json()) == ["nome"]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (CPF_FORMATTED, CPF),
        (" 529 982 247 25 ", CPF),
        ("11.222.333/0001-81", CNPJ),
        ("12.abc.345/01de-35", ALPHANUMERIC_CNPJ),
    ],
)
async def test_create_stores_documento_without_punctuation_in_upper_case(
    client: AsyncClient, editor_headers: dict[str, str], raw: str, stored: str
) -> None:
    response = await client.post(URL, json={"nome": "X", "documento": raw}, headers=editor_headers)
    assert response.status_code == 201, response.text
    assert response.json()["documento"] == stored


async def test_create_accepts_alphanumeric_cnpj(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        URL, json={"nome": "Oficina", "documento": ALPHANUMERIC_CNPJ}, headers=editor_headers
    )
    assert response.status_code == 201
    assert response.json()["documento"] == ALPHANUMERIC_CNPJ


@pytest.mark.parametrize(
    "documento",
    [
        "52998224715",  # CPF, wrong first check digit
        "52998224726",  # CPF, wrong second check digit
        "11111111111",  # CPF of one repeated digit (its check digits match)
        "11222333000182",  # CNPJ, wrong check digit
        "12ABC34501DE36",  # alphanumeric CNPJ, wrong check digit
        "1234567",  # neither length
    ],
)
async def test_strict_mode_rejects_invalid_documento_with_422_naming_it(
    client: AsyncClient, editor_headers: dict[str, str], documento: str
) -> None:
    response = await client.post(
        URL, json={"nome": "X", "documento": documento}, headers=editor_headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert error_fields(response.json()) == ["documento"]


@pytest.mark.parametrize("documento", ["ABC", "1", "52998224715", "X" * 20, "a.b-c/d e"])
async def test_lenient_mode_accepts_any_1_to_20_characters(
    app_factory: Callable[..., Any],
    editor_headers: dict[str, str],
    documento: str,
) -> None:
    app = app_factory(document_validation="lenient")
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as lenient:
        response = await lenient.post(
            URL, json={"nome": "X", "documento": documento}, headers=editor_headers
        )
    assert response.status_code == 201, response.text


async def test_lenient_mode_rejects_21_characters(
    app_factory: Callable[..., Any], editor_headers: dict[str, str]
) -> None:
    app = app_factory(document_validation="lenient")
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as lenient:
        response = await lenient.post(
            URL, json={"nome": "X", "documento": "X" * 21}, headers=editor_headers
        )
    assert response.status_code == 422
    assert error_fields(response.json()) == ["documento"]


async def test_duplicate_documento_returns_409(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    first = await client.post(URL, json={"nome": "A", "documento": CPF}, headers=editor_headers)
    assert first.status_code == 201
    response = await client.post(URL, json={"nome": "B", "documento": CPF}, headers=editor_headers)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM


async def test_duplicate_documento_differing_only_in_punctuation_returns_409(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    first = await client.post(URL, json={"nome": "A", "documento": CPF}, headers=editor_headers)
    assert first.status_code == 201
    response = await client.post(
        URL, json={"nome": "B", "documento": CPF_FORMATTED}, headers=editor_headers
    )
    assert response.status_code == 409


async def test_create_rejects_unknown_body_field(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        URL, json={"nome": "A", "documento": CPF, "id": 7}, headers=editor_headers
    )
    assert response.status_code == 422
    assert error_fields(response.json()) == ["id"]


async def test_create_requires_nome_and_documento(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(URL, json={}, headers=editor_headers)
    assert response.status_code == 422
    assert sorted(error_fields(response.json())) == ["documento", "nome"]


# --- list ------------------------------------------------------------------------------------


async def test_list_returns_envelope_with_items_total_limit_offset(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Maria", documento=CPF)
    response = await client.get(URL, headers=viewer_headers)
    assert response.status_code == 200
    assert response.json() == {
        "items": [{"id": customer.id, "nome": "Maria", "documento": CPF}],
        "total": 1,
        "limit": 50,
        "offset": 0,
    }


async def test_list_is_ordered_by_id(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    first = await create_client(db_session, nome="c")
    second = await create_client(db_session, nome="a")
    third = await create_client(db_session, nome="b")
    # An updated row moves to the end of a PostgreSQL heap: only ORDER BY keeps id order.
    updated = await client.patch(item_url(first.id), json={"nome": "z"}, headers=editor_headers)
    assert updated.status_code == 200
    response = await client.get(URL, headers=editor_headers)
    assert [item["id"] for item in response.json()["items"]] == [first.id, second.id, third.id]


async def test_list_default_limit_is_50(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    for _ in range(51):
        await create_client(db_session)
    body = (await client.get(URL, headers=viewer_headers)).json()
    assert (len(body["items"]), body["total"], body["limit"]) == (50, 51, 50)


async def test_list_limit_and_offset_select_a_page(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    created = [await create_client(db_session) for _ in range(5)]
    response = await client.get(URL, params={"limit": 2, "offset": 1}, headers=viewer_headers)
    body = response.json()
    assert [item["id"] for item in body["items"]] == [created[1].id, created[2].id]
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 1)


async def test_list_accepts_limit_500(client: AsyncClient, viewer_headers: dict[str, str]) -> None:
    response = await client.get(URL, params={"limit": 500}, headers=viewer_headers)
    assert response.status_code == 200
    assert response.json()["limit"] == 500


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
async def test_list_rejects_out_of_range_paging(
    client: AsyncClient, viewer_headers: dict[str, str], params: dict[str, Any], field: str
) -> None:
    response = await client.get(URL, params=params, headers=viewer_headers)
    assert response.status_code == 422
    assert error_fields(response.json()) == [field]


async def test_busca_matches_nome_case_insensitively(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    maria = await create_client(db_session, nome="Maria da Silva")
    await create_client(db_session, nome="João Pereira")
    response = await client.get(URL, params={"busca": "SILV"}, headers=viewer_headers)
    body = response.json()
    assert [item["id"] for item in body["items"]] == [maria.id]
    assert body["total"] == 1


async def test_busca_matches_documento_case_insensitively(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    oficina = await create_client(db_session, nome="Oficina", documento=ALPHANUMERIC_CNPJ)
    await create_client(db_session, nome="Outra", documento=CPF)
    response = await client.get(URL, params={"busca": "abc345"}, headers=viewer_headers)
    assert [item["id"] for item in response.json()["items"]] == [oficina.id]


@pytest.mark.parametrize("busca", ["ação", "AÇÃO", "Ação", "PADARIA AÇ"])
async def test_busca_ignores_case_of_accented_letters_too(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str], busca: str
) -> None:
    padaria = await create_client(db_session, nome="Padaria Ação")
    await create_client(db_session, nome="Padaria Acao")
    response = await client.get(URL, params={"busca": busca}, headers=viewer_headers)
    assert [item["id"] for item in response.json()["items"]] == [padaria.id]


@pytest.mark.parametrize(("busca", "matching"), [("100%", "Rede 100% solar"), ("a_b", "a_b")])
async def test_busca_treats_like_wildcards_literally(
    client: AsyncClient,
    db_session: AsyncSession,
    viewer_headers: dict[str, str],
    busca: str,
    matching: str,
) -> None:
    wanted = await create_client(db_session, nome=matching)
    await create_client(db_session, nome="Rede 1000 solar axb")
    response = await client.get(URL, params={"busca": busca}, headers=viewer_headers)
    body = response.json()
    assert [item["id"] for item in body["items"]] == [wanted.id]
    assert body["total"] == 1


# --- get, replace, update --------------------------------------------------------------------


async def test_get_unknown_id_returns_404_problem(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(item_url(999_999), headers=viewer_headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 404


@pytest.mark.parametrize("client_id", ["0", "abc", str(2**31), str(2**63)])
async def test_get_invalid_id_returns_422(
    client: AsyncClient, viewer_headers: dict[str, str], client_id: str
) -> None:
    response = await client.get(f"{URL}{client_id}/", headers=viewer_headers)
    assert response.status_code == 422
    assert error_fields(response.json()) == ["id"]


async def test_put_replaces_every_field(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Antigo", documento=CPF)
    response = await client.put(
        item_url(customer.id),
        json={"nome": " Novo ", "documento": "11.222.333/0001-81"},
        headers=editor_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"id": customer.id, "nome": "Novo", "documento": CNPJ}
    again = await client.get(item_url(customer.id), headers=editor_headers)
    assert again.json() == response.json()


async def test_put_keeping_its_own_documento_is_not_a_conflict(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Antigo", documento=CPF)
    response = await client.put(
        item_url(customer.id),
        json={"nome": "Novo", "documento": CPF_FORMATTED},
        headers=editor_headers,
    )
    assert response.status_code == 200
    assert response.json() == {"id": customer.id, "nome": "Novo", "documento": CPF}


@pytest.mark.parametrize("missing", ["nome", "documento"])
async def test_put_without_every_field_returns_422(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str], missing: str
) -> None:
    customer = await create_client(db_session, documento=CPF)
    body = {"nome": "Novo", "documento": OTHER_CPF}
    del body[missing]
    response = await client.put(item_url(customer.id), json=body, headers=editor_headers)
    assert response.status_code == 422
    assert error_fields(response.json()) == [missing]


async def test_put_unknown_id_returns_404(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.put(
        item_url(999_999), json={"nome": "A", "documento": CPF}, headers=editor_headers
    )
    assert response.status_code == 404


async def test_put_to_another_clients_documento_returns_409(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    await create_client(db_session, documento=CPF)
    other = await create_client(db_session, documento=OTHER_CPF)
    response = await client.put(
        item_url(other.id), json={"nome": "B", "documento": CPF_FORMATTED}, headers=editor_headers
    )
    assert response.status_code == 409


async def test_put_validates_documento_check_digits(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await client.put(
        item_url(customer.id),
        json={"nome": "A", "documento": "52998224715"},
        headers=editor_headers,
    )
    assert response.status_code == 422
    assert error_fields(response.json()) == ["documento"]


async def test_patch_nome_only_keeps_documento(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Antigo", documento=CPF)
    response = await client.patch(
        item_url(customer.id), json={"nome": "Novo"}, headers=editor_headers
    )
    assert response.status_code == 200
    assert response.json() == {"id": customer.id, "nome": "Novo", "documento": CPF}


async def test_patch_documento_only_keeps_nome_and_normalises(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Oficina", documento=CPF)
    response = await client.patch(
        item_url(customer.id), json={"documento": "12.abc.345/01de-35"}, headers=editor_headers
    )
    assert response.status_code == 200
    assert response.json() == {"id": customer.id, "nome": "Oficina", "documento": "12ABC34501DE35"}


async def test_patch_empty_body_changes_nothing(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Maria", documento=CPF)
    response = await client.patch(item_url(customer.id), json={}, headers=editor_headers)
    assert response.status_code == 200
    assert response.json() == {"id": customer.id, "nome": "Maria", "documento": CPF}


@pytest.mark.parametrize("field", ["nome", "documento"])
async def test_patch_null_returns_422(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str], field: str
) -> None:
    customer = await create_client(db_session)
    response = await client.patch(item_url(customer.id), json={field: None}, headers=editor_headers)
    assert response.status_code == 422
    assert error_fields(response.json()) == [field]


async def test_patch_rejects_unknown_body_field(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await client.patch(
        item_url(customer.id), json={"criado_em": "2020-01-01"}, headers=editor_headers
    )
    assert response.status_code == 422
    assert error_fields(response.json()) == ["criado_em"]


async def test_patch_to_another_clients_documento_returns_409(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    await create_client(db_session, documento=CPF)
    other = await create_client(db_session, documento=OTHER_CPF)
    response = await client.patch(
        item_url(other.id), json={"documento": CPF}, headers=editor_headers
    )
    assert response.status_code == 409


async def test_patch_unknown_id_returns_404(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.patch(item_url(999_999), json={"nome": "A"}, headers=editor_headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


# --- delete ----------------------------------------------------------------------------------


async def test_delete_returns_204_and_the_client_is_gone(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    response = await client.delete(item_url(customer.id), headers=editor_headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(item_url(customer.id), headers=editor_headers)).status_code == 404


async def test_delete_removes_the_clients_consumptions(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    other = await create_client(db_session)
    await create_consumption(db_session, customer, "2026-01", "10")
    await create_consumption(db_session, customer, "2026-02", "20")
    kept = await create_consumption(db_session, other, "2026-01", "30")
    response = await client.delete(item_url(customer.id), headers=editor_headers)
    assert response.status_code == 204
    remaining = (await db_session.scalars(select(Consumption.id))).all()
    assert remaining == [kept.id]


async def test_delete_unknown_id_returns_404(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.delete(item_url(999_999), headers=editor_headers)
    assert response.status_code == 404


# --- roles -----------------------------------------------------------------------------------


async def test_viewer_can_read(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session)
    assert (await client.get(URL, headers=viewer_headers)).status_code == 200
    assert (await client.get(item_url(customer.id), headers=viewer_headers)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "", {"nome": "A", "documento": OTHER_CPF}),
        ("PUT", "{id}/", {"nome": "A", "documento": OTHER_CPF}),
        ("PATCH", "{id}/", {"nome": "A"}),
        ("DELETE", "{id}/", None),
    ],
)
async def test_viewer_cannot_write(
    client: AsyncClient,
    db_session: AsyncSession,
    viewer_headers: dict[str, str],
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    customer = await create_client(db_session, nome="Maria", documento=CPF)
    response = await client.request(
        method, URL + path.format(id=customer.id), json=body, headers=viewer_headers
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    count = await db_session.scalar(select(func.count()).select_from(Client))
    assert count == 1
    unchanged = await client.get(item_url(customer.id), headers=viewer_headers)
    assert unchanged.json() == {"id": customer.id, "nome": "Maria", "documento": CPF}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "", {"nome": "A", "documento": OTHER_CPF}, 201),
        ("PUT", "{id}/", {"nome": "A", "documento": OTHER_CPF}, 200),
        ("PATCH", "{id}/", {"nome": "A"}, 200),
        ("DELETE", "{id}/", None, 204),
    ],
)
async def test_editor_can_write(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    method: str,
    path: str,
    body: dict[str, str] | None,
    status: int,
) -> None:
    customer = await create_client(db_session, documento=CPF)
    response = await client.request(
        method, URL + path.format(id=customer.id), json=body, headers=editor_headers
    )
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("POST", ""), ("GET", "1/"), ("PUT", "1/"), ("PATCH", "1/"), ("DELETE", "1/")],
)
async def test_no_token_returns_401(client: AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, URL + path, json={"nome": "A", "documento": CPF})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
