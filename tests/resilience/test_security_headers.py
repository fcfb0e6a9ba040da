"""Security headers on every response, a CSP that still lets the docs run, and CORS by list."""

from __future__ import annotations

import re

import pytest
from httpx import ASGITransport, AsyncClient
from starlette.types import Receive, Scope, Send

from energy_api.http.docs import inline_script_hashes
from energy_api.http.middleware import API_CSP, EdgeMiddleware
from tests.conftest import AppFactory

ALLOWED = "https://painel.example.com"


@pytest.mark.parametrize(
    "path", ["/health/", "/api/v1/clientes/", "/openapi.json", "/docs", "/nao-existe/"]
)
async def test_every_response_carries_the_security_headers(client: AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_api_responses_get_the_deny_all_csp(client: AsyncClient) -> None:
    response = await client.get("/api/v1/clientes/")
    assert response.headers["content-security-policy"] == API_CSP


@pytest.mark.parametrize(
    "request_args",
    [
        ("POST", "/api/token/", {"json": {"username": "ninguem", "password": "errada"}}),
        ("POST", "/api/token/refresh/", {"json": {"refresh": "x"}}),
        ("POST", "/api/token/form/", {"data": {"username": "u", "password": "p"}}),
    ],
    ids=["token", "refresh", "form"],
)
async def test_token_responses_are_not_stored(
    client: AsyncClient, request_args: tuple[str, str, dict[str, object]]
) -> None:
    method, path, kwargs = request_args
    response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.headers["cache-control"] == "no-store"


async def test_api_data_responses_are_not_stored(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/clientes/", headers=viewer_headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_docs_csp_allows_exactly_their_inline_scripts(client: AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]+)", csp)
    assert script_src is not None
    sources = set(script_src.group(1).split())
    assert sources == {"'self'", *inline_script_hashes(response.text)}
    assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources


async def test_redoc_csp_allows_its_blob_worker(client: AsyncClient) -> None:
    response = await client.get("/redoc")
    assert "worker-src 'self' blob:" in response.headers["content-security-policy"]


async def test_docs_assets_are_served_from_this_origin(client: AsyncClient) -> None:
    page = (await client.get("/docs")).text
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts == ["/docs-assets/swagger-ui-bundle.js"]
    assert (await client.get(scripts[0])).status_code == 200


def _cors_client(app_factory: AppFactory) -> AsyncClient:
    app = app_factory(cors_origins=[ALLOWED])
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://test")


async def test_cors_allows_a_configured_origin(app_factory: AppFactory) -> None:
    async with _cors_client(app_factory) as cors:
        response = await cors.get("/health/", headers={"Origin": ALLOWED})
    assert response.headers["access-control-allow-origin"] == ALLOWED


async def test_cors_preflight_allows_a_configured_origin(app_factory: AppFactory) -> None:
    async with _cors_client(app_factory) as cors:
        response = await cors.options(
            "/api/v1/clientes/",
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key",
            },
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED


async def test_cors_ignores_an_unlisted_origin(app_factory: AppFactory) -> None:
    async with _cors_client(app_factory) as cors:
        response = await cors.get("/health/", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_preflight_refuses_an_unlisted_origin(app_factory: AppFactory) -> None:
    async with _cors_client(app_factory) as cors:
        response = await cors.options(
            "/api/v1/clientes/",
            headers={
                "Origin": "https://evil.example.com",
                "Access-Control-Request-Method": "POST",
            },
        )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_without_configured_origins_no_origin_is_allowed(client: AsyncClient) -> None:
    response = await client.get("/health/", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in response.headers


async def _answer_with_own_headers(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"cache-control", b"public, max-age=600"), (b"x-frame-options", b"SAMEORIGIN")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.mark.parametrize(("path", "cache_control"), [("/api/v1/x/", ["no-store"]), ("/x", None)])
async def test_api_responses_are_never_stored_and_a_routes_own_headers_are_kept(
    path: str, cache_control: list[str] | None
) -> None:
    app = EdgeMiddleware(_answer_with_own_headers, log_requests=False)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        response = await http.get(path)
    assert response.headers.get_list("cache-control") == (cache_control or ["public, max-age=600"])
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["content-security-policy"] == API_CSP
