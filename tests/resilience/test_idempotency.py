"""Idempotency-Key on POST: replays, refusals, expiry, and one write under concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import Role
from energy_api.clients import service as clients_service
from energy_api.clients.models import Client
from energy_api.idempotency.models import IdempotencyKey
from energy_api.idempotency.service import KEY_TTL
from tests.conftest import access_token, make_settings
from tests.factories import create_client, next_cpf
from tests.resilience.conftest import OwnDatabase, add_committed_user, running_app

KEY = "3b6f1c1e-6a55-4c0e-9d7e-1b1f3c2a9e10"


async def count(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def post_client(
    client: AsyncClient, headers: dict[str, str], body: dict[str, str], key: str | None = KEY
) -> Response:
    extra = {"Idempotency-Key": key} if key is not None else {}
    return await client.post("/api/v1/clientes/", json=body, headers={**headers, **extra})


async def test_retry_with_same_key_and_body_replays_the_first_response(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    body = {"nome": "Ana", "documento": next_cpf()}
    first = await post_client(client, editor_headers, body)
    again = await post_client(client, editor_headers, body)
    assert first.status_code == 201
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(db_session, Client) == 1


async def test_replay_ignores_json_spacing_and_key_order(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    document = next_cpf()
    first = await client.post(
        "/api/v1/clientes/",
        content=f'{{"nome": "Ana", "documento": "{document}"}}',
        headers={**editor_headers, "Idempotency-Key": KEY, "content-type": "application/json"},
    )
    again = await client.post(
        "/api/v1/clientes/",
        content=f'{{"documento":"{document}","nome":"Ana"}}',
        headers={**editor_headers, "Idempotency-Key": KEY, "content-type": "application/json"},
    )
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert await count(db_session, Client) == 1


async def test_same_key_with_a_different_body_returns_422(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    await post_client(client, editor_headers, {"nome": "Ana", "documento": next_cpf()})
    response = await post_client(client, editor_headers, {"nome": "Bia", "documento": next_cpf()})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "Idempotency-Key", "message": "was already used with a different request"}
    ]
    assert await count(db_session, Client) == 1


async def test_same_key_on_another_endpoint_returns_422(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    customer = await create_client(db_session)
    await post_client(client, editor_headers, {"nome": "Ana", "documento": next_cpf()})
    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 10},
        headers={**editor_headers, "Idempotency-Key": KEY},
    )
    assert response.status_code == 422


async def test_same_key_with_another_query_returns_422(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    """A dry run and a real load are two requests, even with the same body."""
    customer = await create_client(db_session)
    body = {"itens": [{"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 10}]}
    headers = {**editor_headers, "Idempotency-Key": KEY}
    dry = await client.post("/api/v1/consumos/lote/?dry_run=true", json=body, headers=headers)
    assert dry.status_code == 200 and dry.json()["simulacao"] is True
    real = await client.post("/api/v1/consumos/lote/", json=body, headers=headers)
    assert real.status_code == 422
    assert real.json()["errors"] == [
        {"field": "Idempotency-Key", "message": "was already used with a different request"}
    ]
    # The same parameters in another order are the same request: replayed.
    url = "/api/v1/consumos/lote/?dry_run=true&modo=parcial"
    other = {**editor_headers, "Idempotency-Key": KEY[::-1]}
    first = await client.post(url, json=body, headers=other)
    again = await client.post(
        "/api/v1/consumos/lote/?modo=parcial&dry_run=true", json=body, headers=other
    )
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers.get("Idempotent-Replayed") == "true"


async def test_keys_belong_to_one_user(
    client: AsyncClient, auth_headers: Any, db_session: AsyncSession
) -> None:
    body = {"nome": "Ana", "documento": next_cpf()}
    first = await post_client(client, await auth_headers(Role.editor), body)
    other = await post_client(client, await auth_headers(Role.editor), body)
    assert first.status_code == 201
    assert other.status_code == 409  # ran again for the other user: duplicate documento
    assert await count(db_session, IdempotencyKey) == 1


async def test_without_a_key_every_post_runs(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    body = {"nome": "Ana", "documento": next_cpf()}
    assert (await post_client(client, editor_headers, body, key=None)).status_code == 201
    assert (await post_client(client, editor_headers, body, key=None)).status_code == 409
    assert await count(db_session, IdempotencyKey) == 0


async def test_an_error_is_not_stored_so_a_retry_runs_again(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    document = next_cpf()
    existing = await create_client(db_session, documento=document)
    await db_session.commit()  # keep the fixtures when the failing request rolls back
    body = {"nome": "Ana", "documento": document}
    assert (await post_client(client, editor_headers, body)).status_code == 409
    await db_session.delete(existing)
    await db_session.flush()
    retry = await post_client(client, editor_headers, body)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers


async def test_consumption_posts_are_idempotent_too(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    customer = await create_client(db_session)
    body = {"cliente": customer.id, "mes": "2026-01", "consumo_kwh": 10}
    headers = {**editor_headers, "Idempotency-Key": KEY}
    first = await client.post("/api/v1/consumos/", json=body, headers=headers)
    again = await client.post("/api/v1/consumos/", json=body, headers=headers)
    assert first.status_code == 201
    assert (again.status_code, again.content) == (201, first.content)


async def test_a_key_older_than_24_hours_runs_the_request_again(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    body = {"nome": "Ana", "documento": next_cpf()}
    first = await post_client(client, editor_headers, body)
    await db_session.execute(
        update(IdempotencyKey).values(created_at=datetime.now(UTC) - KEY_TTL - timedelta(hours=1))
    )
    again = await post_client(client, editor_headers, body)
    assert first.status_code == 201
    assert again.status_code == 409  # ran again: the client exists
    assert "idempotent-replayed" not in again.headers


async def test_expired_keys_are_pruned_when_a_response_is_stored(
    client: AsyncClient, editor_headers: dict[str, str], db_session: AsyncSession
) -> None:
    await post_client(client, editor_headers, {"nome": "A", "documento": next_cpf()}, key="old")
    await db_session.execute(
        update(IdempotencyKey).values(created_at=datetime.now(UTC) - KEY_TTL - timedelta(hours=1))
    )
    await post_client(client, editor_headers, {"nome": "B", "documento": next_cpf()}, key="new")
    keys = (await db_session.scalars(select(IdempotencyKey.key))).all()
    assert keys == ["new"]


@pytest.mark.parametrize("key", ["", "x" * 256, "chave com espaço", "ção"])
async def test_a_malformed_key_returns_422(
    client: AsyncClient, editor_headers: dict[str, str], key: str
) -> None:
    response = await client.post(
        "/api/v1/clientes/",
        json={"nome": "Ana", "documento": next_cpf()},
        headers=[
            *((name.encode(), value.encode()) for name, value in editor_headers.items()),
            (b"Idempotency-Key", key.encode()),
        ],
    )
    assert response.status_code == 422


async def test_openapi_declares_the_header_on_idempotent_posts_only(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    def headers(path: str, method: str) -> list[str]:
        return [p["name"] for p in paths[path][method].get("parameters", []) if p["in"] == "header"]

    assert headers("/api/v1/clientes/", "post") == ["Idempotency-Key"]
    assert headers("/api/v1/consumos/", "post") == ["Idempotency-Key"]
    assert headers("/api/v1/clientes/", "get") == []
    assert headers("/api/v1/consumos/lote/", "post") == ["Idempotency-Key"]
    # Other methods carry their own conditional headers (If-Match), never Idempotency-Key.
    assert "Idempotency-Key" not in headers("/api/v1/clientes/{id}/", "put")


async def test_concurrent_identical_posts_write_once(
    postgres_only: None, own_database: OwnDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 identical POSTs while the first is still running: one 201, 49 × 409, one row."""
    settings = make_settings(own_database.url)
    editor = await add_committed_user(own_database.url, Role.editor)
    headers = {
        "Authorization": f"Bearer {access_token(settings, editor)}",
        "Idempotency-Key": KEY,
    }
    body = {"nome": "Concorrente", "documento": next_cpf()}
    release = asyncio.Event()
    real_create = clients_service.create

    async def held_create(*args: Any, **kwargs: Any) -> Client:
        await release.wait()  # the request holding the key stays in flight until released
        return await real_create(*args, **kwargs)

    answered = 0
    all_but_one = asyncio.Event()

    def on_answer(_: object) -> None:
        nonlocal answered
        answered += 1
        if answered == 49:
            all_but_one.set()

    monkeypatch.setattr(clients_service, "create", held_create)
    async with running_app(settings) as client:
        tasks = [
            asyncio.create_task(client.post("/api/v1/clientes/", json=body, headers=headers))
            for _ in range(50)
        ]
        for task in tasks:
            task.add_done_callback(on_answer)
        async with asyncio.timeout(10):
            await all_but_one.wait()
        release.set()
        responses = await asyncio.gather(*tasks)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 49
    engine_rows = await _rows(own_database.url)
    assert engine_rows == {"clients": 1, "idempotency_keys": 1}


async def _rows(url: str) -> dict[str, int]:
    from energy_api.db import create_engine, create_sessionmaker

    engine = create_engine(url, make_settings(url))
    try:
        async with create_sessionmaker(engine)() as session:
            return {
                "clients": await count(session, Client),
                "idempotency_keys": await count(session, IdempotencyKey),
            }
    finally:
        await engine.dispose()
