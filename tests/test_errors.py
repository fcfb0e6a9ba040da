"""Every error is RFC 9457 problem+json: 404, 405, 422 (with dotted field paths), 401, 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from energy_api.main import create_app
from tests.conftest import make_settings

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def test_unknown_route_is_a_404_problem(client_without_database: AsyncClient) -> None:
    body = assert_problem(await client_without_database.get("/no/such/route/"), 404)
    assert body["title"] == "Not Found"
    assert "errors" not in body


async def test_unknown_resource_is_a_404_problem(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/clientes/999999/", headers=viewer_headers)
    body = assert_problem(response, 404)
    assert body["title"] == "Not Found"
    assert "999999" in body["detail"]


async def test_wrong_method_is_a_405_problem_with_allow(
    client_without_database: AsyncClient,
) -> None:
    response = await client_without_database.delete("/health/")
    body = assert_problem(response, 405)
    assert body["title"] == "Method Not Allowed"
    assert response.headers["allow"] == "GET"


async def test_validation_error_is_a_422_problem_listing_each_field(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": 0, "mes": "2026-13", "consumo_kwh": -1},
        headers=editor_headers,
    )
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["cliente", "mes", "consumo_kwh"]
    assert all(isinstance(error["message"], str) and error["message"] for error in body["errors"])
    assert set(body["errors"][0]) == {"field", "message"}


async def test_query_validation_error_names_the_parameter_without_its_location(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/clientes/", params={"limit": 0}, headers=viewer_headers)
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["limit"]


async def test_malformed_json_body_is_a_422_problem(
    client: AsyncClient, editor_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/clientes/",
        content=b'{"nome": ',
        headers={**editor_headers, "content-type": "application/json"},
    )
    body = assert_problem(response, 422)
    assert len(body["errors"]) == 1


class _Reading(BaseModel):
    mes: str


class _Batch(BaseModel):
    leituras: list[_Reading]


def _app_with_test_routes() -> FastAPI:
    """The real app plus two routes that exercise the handlers in ways no API route does."""
    app = create_app(make_settings("sqlite+aiosqlite://"))

    @app.post("/_test/nested")
    async def nested(body: _Batch) -> int:
        return len(body.leituras)

    @app.get("/_test/crash")
    async def crash() -> None:
        raise RuntimeError("boom: internal detail")

    return app


async def test_nested_validation_error_field_is_a_dotted_path() -> None:
    app = _app_with_test_routes()
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        response = await http.post(
            "/_test/nested", json={"leituras": [{"mes": "2026-01"}, {"mes": 5}]}
        )
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["leituras.1.mes"]


async def test_unhandled_error_is_a_500_problem_without_internals() -> None:
    app = _app_with_test_routes()
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/_test/crash")
    body = assert_problem(response, 500)
    assert "boom" not in response.text
    assert body["title"] == "Internal Server Error"


async def test_missing_token_is_a_401_problem_with_bearer_challenge(client: AsyncClient) -> None:
    response = await client.get("/api/v1/clientes/")
    body = assert_problem(response, 401)
    assert body["title"] == "Unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_bad_token_is_a_401_problem_with_bearer_challenge(client: AsyncClient) -> None:
    response = await client.get("/api/v1/clientes/", headers={"Authorization": "Bearer not-a-jwt"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_forbidden_is_a_403_problem(
    client: AsyncClient, viewer_headers: dict[str, str]
) -> None:
    response = await client.delete("/api/v1/clientes/1/", headers=viewer_headers)
    body = assert_problem(response, 403)
    assert body["title"] == "Forbidden"


async def test_conflict_is_a_409_problem(
    app_factory: Callable[..., FastAPI], editor_headers: dict[str, str]
) -> None:
    app = app_factory()
    payload = {"nome": "A", "documento": "52998224725"}
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        await http.post("/api/v1/clientes/", json=payload, headers=editor_headers)
        response = await http.post("/api/v1/clientes/", json=payload, headers=editor_headers)
    body = assert_problem(response, 409)
    assert body["title"] == "Conflict"
