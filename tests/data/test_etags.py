"""No lost updates: ETag on item GETs, If-None-Match → 304, If-Match on writes → 412 when stale."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energy_api.auth.models import Role, User
from energy_api.clients import service as clients_service
from energy_api.clients.models import Client
from energy_api.main import create_app
from tests.conftest import AppFactory, access_token, add_user, make_settings
from tests.factories import create_client, create_consumption, next_cpf

PROBLEM = "application/problem+json"
CLIENTS = "/api/v1/clientes/"
CONSUMPTIONS = "/api/v1/consumos/"


async def _client_url(session: AsyncSession) -> str:
    customer = await create_client(session, nome="Ana")
    return f"{CLIENTS}{customer.id}/"


async def _consumption_url(session: AsyncSession) -> str:
    customer = await create_client(session, nome="Ana")
    record = await create_consumption(session, customer, "2026-01", "100.50")
    return f"{CONSUMPTIONS}{record.id}/"


def _edit(url: str) -> dict[str, object]:
    if url.startswith(CLIENTS):
        return {"nome": "Outro nome"}
    return {"consumo_kwh": 7}


@pytest.fixture(params=["clientes", "consumos"])
async def item_url(request: pytest.FixtureRequest, db_session: AsyncSession) -> str:
    if request.param == "clientes":
        return await _client_url(db_session)
    return await _consumption_url(db_session)


async def test_get_answers_a_strong_etag(
    client: AsyncClient, item_url: str, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(item_url, headers=viewer_headers)
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    again = await client.get(item_url, headers=viewer_headers)
    assert again.headers["etag"] == etag


async def test_if_none_match_with_the_current_etag_is_304_without_body(
    client: AsyncClient, item_url: str, viewer_headers: dict[str, str]
) -> None:
    etag = (await client.get(item_url, headers=viewer_headers)).headers["etag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(item_url, headers={**viewer_headers, "If-None-Match": sent})
        assert response.status_code == 304, sent
        assert response.content == b""
        assert response.headers["etag"] == etag


async def test_if_none_match_with_an_old_etag_sends_the_body(
    client: AsyncClient, item_url: str, viewer_headers: dict[str, str]
) -> None:
    response = await client.get(item_url, headers={**viewer_headers, "If-None-Match": '"old"'})
    assert response.status_code == 200
    assert response.json()["id"] > 0


async def test_a_write_changes_the_etag_and_answers_the_new_one(
    client: AsyncClient, item_url: str, editor_headers: dict[str, str]
) -> None:
    before = (await client.get(item_url, headers=editor_headers)).headers["etag"]
    patched = await client.patch(
        item_url, json=_edit(item_url), headers={**editor_headers, "If-Match": before}
    )
    assert patched.status_code == 200, patched.text
    after = patched.headers["etag"]
    assert after != before
    assert (await client.get(item_url, headers=editor_headers)).headers["etag"] == after


async def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    client: AsyncClient, item_url: str, editor_headers: dict[str, str]
) -> None:
    stale = (await client.get(item_url, headers=editor_headers)).headers["etag"]
    first = await client.patch(item_url, json=_edit(item_url), headers=editor_headers)
    assert first.status_code == 200
    current = await client.get(item_url, headers=editor_headers)

    second = await client.patch(
        item_url,
        json={"nome": "Perdido"} if item_url.startswith(CLIENTS) else {"consumo_kwh": 1},
        headers={**editor_headers, "If-Match": stale},
    )
    assert second.status_code == 412
    assert second.headers["content-type"] == PROBLEM
    assert second.json()["status"] == 412
    assert second.headers["etag"] == current.headers["etag"]
    assert (await client.get(item_url, headers=editor_headers)).json() == current.json()


async def test_put_with_a_stale_if_match_is_412(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Ana")
    record = await create_consumption(db_session, customer, "2026-01", 10)
    body = {"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 11}
    url = f"{CONSUMPTIONS}{record.id}/"
    response = await client.put(url, json=body, headers={**editor_headers, "If-Match": '"x"'})
    assert response.status_code == 412
    client_url = f"{CLIENTS}{customer.id}/"
    body = {"nome": "Bia", "documento": customer.document}
    response = await client.put(
        client_url, json=body, headers={**editor_headers, "If-Match": '"x"'}
    )
    assert response.status_code == 412


async def test_delete_with_a_stale_if_match_is_412_and_keeps_the_row(
    client: AsyncClient, item_url: str, editor_headers: dict[str, str]
) -> None:
    response = await client.delete(item_url, headers={**editor_headers, "If-Match": '"stale"'})
    assert response.status_code == 412
    assert (await client.get(item_url, headers=editor_headers)).status_code == 200


async def test_delete_with_the_current_if_match_deletes(
    client: AsyncClient, item_url: str, editor_headers: dict[str, str]
) -> None:
    etag = (await client.get(item_url, headers=editor_headers)).headers["etag"]
    response = await client.delete(item_url, headers={**editor_headers, "If-Match": etag})
    assert response.status_code == 204
    assert (await client.get(item_url, headers=editor_headers)).status_code == 404


async def test_if_match_star_and_lists_match_the_current_version(
    client: AsyncClient, item_url: str, editor_headers: dict[str, str]
) -> None:
    for template in ("*", '"a", {etag}'):
        etag = (await client.get(item_url, headers=editor_headers)).headers["etag"]
        sent = template.format(etag=etag)
        response = await client.patch(
            item_url, json=_edit(item_url), headers={**editor_headers, "If-Match": sent}
        )
        assert response.status_code == 200, sent


async def test_a_weak_etag_never_satisfies_if_match(
    client: AsyncClient, item_url: str, editor_headers: dict[str, str]
) -> None:
    etag = (await client.get(item_url, headers=editor_headers)).headers["etag"]
    response = await client.patch(
        item_url, json=_edit(item_url), headers={**editor_headers, "If-Match": f"W/{etag}"}
    )
    assert response.status_code == 412


async def test_renaming_the_client_changes_its_consumptions_etag(
    client: AsyncClient, db_session: AsyncSession, editor_headers: dict[str, str]
) -> None:
    customer = await create_client(db_session, nome="Ana")
    record = await create_consumption(db_session, customer, "2026-01", 10)
    url = f"{CONSUMPTIONS}{record.id}/"
    before = (await client.get(url, headers=editor_headers)).headers["etag"]
    renamed = await client.patch(
        f"{CLIENTS}{customer.id}/", json={"nome": "Bia"}, headers=editor_headers
    )
    assert renamed.status_code == 200
    assert (await client.get(url, headers=editor_headers)).headers["etag"] != before


async def test_cors_exposes_the_headers_browser_code_reads(app_factory: AppFactory) -> None:
    origin = "https://painel.example.com"
    app = app_factory(cors_origins=[origin])
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as cors:
        response = await cors.get("/health/", headers={"Origin": origin})
        exposed = {
            h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
        }
        assert {"etag", "retry-after", "idempotent-replayed", "location"} <= exposed
        preflight = await cors.options(
            CLIENTS,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "If-Match",
            },
        )
        assert preflight.status_code == 200


# --- the check happens under the row lock: racing writers with one ETag ----------------------


@pytest.fixture
async def committed_client(
    postgres_only: None, database_url: str, password_hash: str
) -> AsyncIterator[tuple[AsyncClient, int, dict[str, str]]]:
    settings = make_settings(database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
        async with sessionmaker() as session, session.begin():
            customer = Client(name="Concorrente", document=next_cpf())
            session.add(customer)
            user = await add_user(
                session, password_hash, username=f"ed-{uuid.uuid4().hex[:8]}", role=Role.editor
            )
        headers = {"Authorization": f"Bearer {access_token(settings, user)}"}
        try:
            async with AsyncClient(
                transport=ASGITransport(app=app), base_url="http://test"
            ) as http:
                yield http, customer.id, headers
        finally:
            async with sessionmaker() as session, session.begin():
                await clients_service.delete(session, customer.id)
                await session.execute(delete(User).where(User.id == user.id))


async def test_racing_writes_with_one_etag_let_exactly_one_through(
    committed_client: tuple[AsyncClient, int, dict[str, str]],
) -> None:
    http, client_id, headers = committed_client
    url = f"{CLIENTS}{client_id}/"
    etag = (await http.get(url, headers=headers)).headers["etag"]

    async def patch(n: int) -> int:
        response = await http.patch(
            url, json={"nome": f"Nome {n}"}, headers={**headers, "If-Match": etag}
        )
        return response.status_code

    statuses = Counter(await asyncio.gather(*(patch(n) for n in range(10))))
    assert statuses == {200: 1, 412: 9}


def test_openapi_declares_etag_304_and_412() -> None:
    document = create_app(make_settings("sqlite+aiosqlite://")).openapi()
    for path in (f"{CLIENTS}{{id}}/", f"{CONSUMPTIONS}{{id}}/"):
        item = document["paths"][path]
        assert "ETag" in item["get"]["responses"]["200"]["headers"]
        assert "304" in item["get"]["responses"]
        for method in ("put", "patch", "delete"):
            assert "412" in item[method]["responses"], (method, path)
            names = {p["name"] for p in item[method]["parameters"]}
            assert "If-Match" in names
