"""/docs and /redoc work on a closed network: their assets are served by the app itself."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient

ASSET_ATTRIBUTE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def asset_urls(html: str) -> list[str]:
    return ASSET_ATTRIBUTE.findall(html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_is_html(client_without_database: AsyncClient, page: str) -> None:
    response = await client_without_database.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_references_no_external_host(
    client_without_database: AsyncClient, page: str
) -> None:
    html = (await client_without_database.get(page)).text
    assert asset_urls(html), "the page references no asset at all"
    assert re.search(r"https?://", html) is None
    assert all(url.startswith("/") and not url.startswith("//") for url in asset_urls(html))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_assets_are_served_by_the_app(
    client_without_database: AsyncClient, page: str
) -> None:
    html = (await client_without_database.get(page)).text
    for url in asset_urls(html):
        response = await client_without_database.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 0, url


async def test_swagger_ui_loads_its_script_and_stylesheet_locally(
    client_without_database: AsyncClient,
) -> None:
    html = (await client_without_database.get("/docs")).text
    urls = asset_urls(html)
    assert any(url.endswith(".js") for url in urls)
    assert any(url.endswith(".css") for url in urls)


async def test_docs_point_at_the_local_openapi_document(
    client_without_database: AsyncClient,
) -> None:
    for page in ("/docs", "/redoc"):
        html = (await client_without_database.get(page)).text
        assert "/openapi.json" in html
    assert (await client_without_database.get("/openapi.json")).status_code == 200


async def test_oauth2_redirect_page_is_served(client_without_database: AsyncClient) -> None:
    swagger = (await client_without_database.get("/docs")).text
    assert "/docs/oauth2-redirect" in swagger
    response = await client_without_database.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swaggerUIRedirectOauth2" in response.text
