"""HEAD answers as GET would, headers and status alike, without the body."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import create_client


@pytest.mark.parametrize("path", ["/api/v1/clientes/", "/api/v1/consumos/", "/health/"])
async def test_head_answers_the_get_headers_without_a_body(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str], path: str
) -> None:
    await create_client(db_session)
    got = await client.get(path, headers=viewer_headers)
    head = await client.head(path, headers=viewer_headers)

    assert (head.status_code, head.content) == (got.status_code, b"")
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


async def test_head_of_an_item_that_does_not_exist_is_404(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.head("/api/v1/clientes/999999/", headers=viewer_headers)
    assert (response.status_code, response.content) == (404, b"")


async def test_head_needs_the_same_credentials_as_get(client: AsyncClient) -> None:
    response = await client.head("/api/v1/clientes/")
    assert (response.status_code, response.content) == (401, b"")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_head_of_a_route_without_get_is_405(client: AsyncClient) -> None:
    response = await client.head("/api/token/")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
