"""Roles: viewer reads; editor also writes clients and consumptions; admin everything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import Role
from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from tests.auth.helpers import PROBLEM_JSON
from tests.factories import create_client, create_consumption, next_cpf

AuthHeaders = Callable[..., Any]

READS = [
    "/api/v1/clientes/",
    "/api/v1/clientes/{client}/",
    "/api/v1/consumos/",
    "/api/v1/consumos/{consumption}/",
    "/api/v1/analytics/media-consumo/?cliente_id={client}",
]


def _writes() -> list[tuple[str, str, dict[str, Any] | None, int]]:
    """(method, path, body, status an editor gets) for every client and consumption write."""
    return [
        ("POST", "/api/v1/clientes/", {"nome": "Nova", "documento": next_cpf()}, 201),
        ("PUT", "/api/v1/clientes/{client}/", {"nome": "Outra", "documento": next_cpf()}, 200),
        ("PATCH", "/api/v1/clientes/{client}/", {"nome": "Renomeada"}, 200),
        ("DELETE", "/api/v1/clientes/{client}/", None, 204),
        (
            "POST",
            "/api/v1/consumos/",
            {"cliente": "{client}", "mes": "2026-03", "consumo_kwh": 10.5},
            201,
        ),
        (
            "PUT",
            "/api/v1/consumos/{consumption}/",
            {"cliente": "{client}", "mes": "2026-02", "consumo_kwh": 99},
            200,
        ),
        ("PATCH", "/api/v1/consumos/{consumption}/", {"consumo_kwh": 1}, 200),
        ("DELETE", "/api/v1/consumos/{consumption}/", None, 204),
    ]


WRITES = _writes()
WRITE_IDS = [f"{method} {path}" for method, path, _, _ in WRITES]


async def _fixtures(session: AsyncSession) -> dict[str, int]:
    customer = await create_client(session)
    consumption = await create_consumption(session, customer, "2026-02", "120.00")
    # Released, so a refused request's rollback cannot take these rows with it.
    await session.commit()
    return {"client": customer.id, "consumption": consumption.id}


def _fill(body: dict[str, Any] | None, ids: dict[str, int]) -> dict[str, Any] | None:
    if body is None:
        return None
    return {key: ids["client"] if value == "{client}" else value for key, value in body.items()}


async def _rows(session: AsyncSession) -> tuple[int, int, list[str]]:
    clients = await session.scalar(select(func.count()).select_from(Client))
    consumptions = await session.scalar(select(func.count()).select_from(Consumption))
    names = list(await session.scalars(select(Client.name).order_by(Client.id)))
    return int(clients or 0), int(consumptions or 0), names


@pytest.mark.parametrize("path", READS)
async def test_viewer_reads_clients_consumptions_and_analytics(
    client: AsyncClient, db_session: AsyncSession, auth_headers: AuthHeaders, path: str
) -> None:
    ids = await _fixtures(db_session)
    response = await client.get(path.format(**ids), headers=await auth_headers(Role.viewer))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path", "body", "_status"), WRITES, ids=WRITE_IDS)
async def test_viewer_cannot_write_and_nothing_changes(
    client: AsyncClient,
    db_session: AsyncSession,
    auth_headers: AuthHeaders,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    _status: int,
) -> None:
    ids = await _fixtures(db_session)
    before = await _rows(db_session)
    response = await client.request(
        method,
        path.format(**ids),
        json=_fill(body, ids),
        headers=await auth_headers(Role.viewer),
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == "Requires the editor role"
    assert await _rows(db_session) == before


@pytest.mark.parametrize(("method", "path", "body", "status"), WRITES, ids=WRITE_IDS)
async def test_editor_writes_clients_and_consumptions(
    client: AsyncClient,
    db_session: AsyncSession,
    auth_headers: AuthHeaders,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
) -> None:
    ids = await _fixtures(db_session)
    response = await client.request(
        method,
        path.format(**ids),
        json=_fill(body, ids),
        headers=await auth_headers(Role.editor),
    )
    assert response.status_code == status, response.text


async def test_admin_writes_what_an_editor_writes(
    client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/clientes/",
        json={"nome": "Pela Administração", "documento": next_cpf()},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
