"""Bad input gets a clear 4xx problem+json answer, never a 500 and never a write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Message

from energy_api.clients.models import Client
from energy_api.errors import PROBLEM_MEDIA_TYPE
from tests.conftest import AppFactory
from tests.factories import create_client, next_cpf

MIB = 1024 * 1024
JSON = {"content-type": "application/json"}


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def client_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Client)) or 0)


async def test_body_over_one_mib_by_content_length_returns_413(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/clientes/", content=b" " * (MIB + 1), headers={**editor_headers, **JSON}
    )
    body = assert_problem(response, 413)
    assert body["detail"] == "Request body is larger than the limit of 1048576 bytes"


async def test_declared_oversize_body_is_refused_without_reading_it(app: FastAPI) -> None:
    read = False
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        read = True
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/clientes/",
        "raw_path": b"/api/v1/clientes/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"2097152")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert not read


async def test_streamed_body_over_one_mib_returns_413(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(40):  # 4 MB offered, no Content-Length
            sent += 1
            yield b" " * 100_000

    response = await client.post(
        "/api/v1/clientes/", content=chunks(), headers={**editor_headers, **JSON}
    )
    assert_problem(response, 413)
    assert sent < 40  # refused while streaming, not after reading it all


async def test_body_of_exactly_one_mib_is_read(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    # Whitespace around a valid object: at the limit the body is parsed, so the answer is 201.
    payload = b'{"nome": "Limite", "documento": "%s"}' % next_cpf().encode()
    padded = payload + b" " * (MIB - len(payload))
    response = await client.post(
        "/api/v1/clientes/", content=padded, headers={**editor_headers, **JSON}
    )
    assert response.status_code == 201, response.text


async def test_body_limit_is_configurable(
    app_factory: AppFactory, editor_headers: dict[str, str]
) -> None:
    app = app_factory(max_request_body_bytes=2048)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as small:
        response = await small.post(
            "/api/v1/clientes/", content=b" " * 2049, headers={**editor_headers, **JSON}
        )
    assert_problem(response, 413)


async def test_malformed_json_returns_422_naming_the_body(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/clientes/", content=b'{"nome": "x",', headers={**editor_headers, **JSON}
    )
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "field": "body",
            "message": "Invalid JSON (Expecting property name enclosed in "
            "double quotes at position 13)",
        }
    ]


async def test_body_that_is_not_utf8_returns_400_problem(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/clientes/", content=b'{"nome": "\xff\xfe"}', headers={**editor_headers, **JSON}
    )
    assert_problem(response, 400)


async def test_json_that_is_not_an_object_returns_422(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/clientes/", content=b"[1, 2]", headers={**editor_headers, **JSON}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
async def test_wrong_content_type_returns_415(
    client: AsyncClient, editor_headers: dict[str, str], content_type: str
) -> None:
    response = await client.post(
        "/api/v1/clientes/",
        content=b'{"nome": "x", "documento": "52998224725"}',
        headers={**editor_headers, "content-type": content_type},
    )
    body = assert_problem(response, 415)
    assert body["detail"] == f"Content-Type must be application/json (got {content_type!r})"


async def test_missing_content_type_returns_415(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/clientes/", content=b'{"nome": "x"}', headers=editor_headers
    )
    body = assert_problem(response, 415)
    assert body["detail"] == "Content-Type must be application/json (the header is missing)"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"nome": "Ana\\u0000Paula", "documento": "%s"}', "nome"),
        (b'{"nome": "Ana", "documento": "\\u0000%s"}', "documento"),
        (b'{"nome": "Ana\\ud800", "documento": "%s"}', "nome"),
        (b'{"nome": "Ana\\udfff", "documento": "%s"}', "nome"),
    ],
    ids=["nul-nome", "nul-documento", "lone-high-surrogate", "lone-low-surrogate"],
)
async def test_unstorable_text_in_a_body_returns_422_and_writes_nothing(
    client: AsyncClient,
    editor_headers: dict[str, str],
    db_session: AsyncSession,
    raw: bytes,
    field: str,
) -> None:
    before = await client_count(db_session)
    response = await client.post(
        "/api/v1/clientes/", content=raw % next_cpf().encode(), headers={**editor_headers, **JSON}
    )
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == [field]
    assert await client_count(db_session) == before


async def test_nul_in_a_patch_body_returns_422(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    customer = await create_client(db_session, nome="Antes")
    response = await client.patch(
        f"/api/v1/clientes/{customer.id}/",
        content=b'{"nome": "Depois\\u0000"}',
        headers={**editor_headers, **JSON},
    )
    assert_problem(response, 422)


async def test_surrogate_pair_is_accepted(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/clientes/",
        content=b'{"nome": "Sol \\ud83d\\ude00", "documento": "%s"}' % next_cpf().encode(),
        headers={**editor_headers, **JSON},
    )
    assert response.status_code == 201, response.text
    assert response.json()["nome"] == "Sol \U0001f600"


async def test_nul_in_the_query_string_returns_422(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/clientes/?busca=a%00b", headers=viewer_headers)
    body = assert_problem(response, 422)
    assert body["detail"] == "query: must not contain NUL characters"


async def test_nul_in_a_form_field_returns_422_not_500(client: AsyncClient, backend: str) -> None:
    # Form fields are not checked by the schemas: PostgreSQL's refusal is mapped to 422, and
    # SQLite, which stores NUL, simply finds no such user.
    response = await client.post(
        "/api/token/form/", data={"username": "adm\x00in", "password": "whatever"}
    )
    assert_problem(response, 422 if backend == "postgresql" else 401)


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/clientes/{2**63}/",
        f"/api/v1/clientes/{2**31}/",
        "/api/v1/clientes/0/",
        "/api/v1/clientes/-1/",
        f"/api/v1/consumos/{2**63}/",
        f"/api/v1/consumos/?cliente_id={2**63}",
        f"/api/v1/analytics/media-consumo/?cliente_id={2**63}",
        f"/api/v1/analytics/media-consumo/?cliente_id={-(2**63)}",
        "/api/v1/clientes/1e3/",
    ],
)
async def test_out_of_range_ids_return_422(
    client: AsyncClient, viewer_headers: dict[str, str], path: str
) -> None:
    assert_problem(await client.get(path, headers=viewer_headers), 422)


async def test_huge_client_id_in_a_body_returns_422(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": 2**63, "mes": "2026-01", "consumo_kwh": 1},
        headers=editor_headers,
    )
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["cliente"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        f"limit={2**63}",
        "limit=-1",
        "offset=-1",
        f"offset={2**63}",
        f"offset={2**31}",
        "limit=abc",
        "limit=1.5",
    ],
)
@pytest.mark.parametrize("resource", ["clientes", "consumos"])
async def test_absurd_limit_or_offset_returns_422(
    client: AsyncClient, viewer_headers: dict[str, str], resource: str, query: str
) -> None:
    response = await client.get(f"/api/v1/{resource}/?{query}", headers=viewer_headers)
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "query", ["de=0000-01", "ate=10000-01", "de=2026-13", "de=2026-00", "de=-2026-01"]
)
async def test_out_of_range_month_in_the_query_returns_422(
    client: AsyncClient, viewer_headers: dict[str, str], query: str
) -> None:
    response = await client.get(f"/api/v1/consumos/?{query}", headers=viewer_headers)
    assert_problem(response, 422)


@pytest.mark.parametrize("mes", ["0000-01", "99999-01", "2026-02-30", "1e308"])
async def test_out_of_range_month_in_a_body_returns_422(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession, mes: str
) -> None:
    customer = await create_client(db_session)
    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": customer.id, "mes": mes, "consumo_kwh": 1},
        headers=editor_headers,
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("kwh", [b"1e400", b"-1e400", b"NaN", b"Infinity"])
async def test_non_finite_or_absurd_kwh_returns_422(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession, kwh: bytes
) -> None:
    customer = await create_client(db_session)
    raw = b'{"cliente": %d, "mes": "2026-01", "consumo_kwh": %s}' % (customer.id, kwh)
    response = await client.post(
        "/api/v1/consumos/", content=raw, headers={**editor_headers, **JSON}
    )
    assert_problem(response, 422)
