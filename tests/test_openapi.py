"""The OpenAPI document that SDK generators read: ids, tags, schemas, errors, security."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient

from energy_api.main import create_app
from energy_api.schemas import MAX_ID
from tests.conftest import make_settings

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
PROBLEM = "application/problem+json"

EXPECTED_OPERATION_IDS = {
    "clientes-list",
    "clientes-create",
    "clientes-get",
    "clientes-replace",
    "clientes-update",
    "clientes-delete",
    "consumos-list",
    "consumos-create",
    "consumos-get",
    "consumos-replace",
    "consumos-update",
    "consumos-delete",
    "consumos-bulk",
    "analytics-media-consumo",
    "analytics-resumo",
    "analytics-serie-mensal",
    "analytics-crescimento",
    "analytics-ranking",
    "analytics-tendencia",
    "analytics-anomalias",
    "auth-token",
    "auth-refresh",
    "auth-revoke",
    "auth-token-form",
    "usuarios-me",
    "usuarios-create",
    "usuarios-list",
    "usuarios-get",
    "usuarios-update",
    "usuarios-delete",
    "usuarios-change-password",
    "health-check",
    "health-live",
    "health-ready",
}

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    """The document as served at /openapi.json (built once: it takes a moment)."""
    return create_app(make_settings("sqlite+aiosqlite://")).openapi()


async def test_openapi_json_is_served(client_without_database: AsyncClient) -> None:
    response = await client_without_database.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Energy Analytics API"


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object nested anywhere in `node`."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_every_operation_has_exactly_one_tag(openapi: dict[str, Any]) -> None:
    untagged = [
        (method, path) for path, method, op in operations(openapi) if len(op.get("tags", [])) != 1
    ]
    assert untagged == []


def test_operation_ids_are_tag_dash_name(openapi: dict[str, Any]) -> None:
    for path, method, operation in operations(openapi):
        tag = operation["tags"][0]
        assert operation["operationId"].startswith(f"{tag}-"), (method, path)


def test_operation_ids_are_unique(openapi: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(openapi)]
    assert len(ids) == len(set(ids))


def test_operation_ids_are_exactly_the_stable_set(openapi: dict[str, Any]) -> None:
    ids = {operation["operationId"] for _, _, operation in operations(openapi)}
    assert ids == EXPECTED_OPERATION_IDS


def test_no_schema_is_split_into_input_and_output(openapi: dict[str, Any]) -> None:
    names = openapi["components"]["schemas"]
    assert [name for name in names if name.endswith(("-Input", "-Output"))] == []


def test_consumo_kwh_is_a_number_in_every_schema(openapi: dict[str, Any]) -> None:
    found = [
        node["properties"]["consumo_kwh"]
        for node in walk(openapi["components"]["schemas"])
        if isinstance(node.get("properties"), dict) and "consumo_kwh" in node["properties"]
    ]
    assert len(found) >= 3  # create, update, read
    assert all(schema.get("type") == "number" for schema in found), found


def test_media_and_ultimo_consumo_are_numbers(openapi: dict[str, Any]) -> None:
    properties = openapi["components"]["schemas"]["MeanConsumption"]["properties"]
    assert properties["media"]["type"] == "number"
    assert properties["ultimo_consumo"]["type"] == "number"


def test_api_v1_operations_declare_401_as_problem_json(openapi: dict[str, Any]) -> None:
    for path, method, operation in operations(openapi):
        if path.startswith("/api/v1/"):
            response = operation["responses"].get("401")
            assert response is not None, (method, path)
            assert PROBLEM in response["content"], (method, path)


def test_operations_with_input_declare_422_as_problem_json(openapi: dict[str, Any]) -> None:
    for path, method, operation in operations(openapi):
        if path.startswith("/api/v1/") and (
            operation.get("parameters") or operation.get("requestBody")
        ):
            response = operation["responses"].get("422")
            assert response is not None, (method, path)
            assert PROBLEM in response["content"], (method, path)
            assert "application/json" not in response["content"], (method, path)


def test_every_error_response_is_problem_json(openapi: dict[str, Any]) -> None:
    for path, method, operation in operations(openapi):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert list(response["content"]) == [PROBLEM], (method, path, status)


def test_writes_declare_403_and_item_routes_declare_404(openapi: dict[str, Any]) -> None:
    for path, method, operation in operations(openapi):
        if path.startswith(("/api/v1/clientes/", "/api/v1/consumos/")):
            if method != "get":
                assert "403" in operation["responses"], (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)


def test_problem_schema_has_the_rfc_9457_fields(openapi: dict[str, Any]) -> None:
    problem = openapi["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])


def test_oauth2_password_flow_points_at_the_form_token_url(openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"].values()
    password_flows = [
        scheme["flows"]["password"]
        for scheme in schemes
        if scheme["type"] == "oauth2" and "password" in scheme.get("flows", {})
    ]
    assert [flow["tokenUrl"] for flow in password_flows] == ["/api/token/form/"]


def test_api_v1_operations_require_the_oauth2_scheme(openapi: dict[str, Any]) -> None:
    (scheme_name,) = openapi["components"]["securitySchemes"]
    for path, method, operation in operations(openapi):
        if path.startswith("/api/v1/"):
            assert {scheme_name: []} in operation.get("security", []), (method, path)


def test_health_and_token_routes_need_no_credentials(openapi: dict[str, Any]) -> None:
    for path, method, operation in operations(openapi):
        if not path.startswith("/api/v1/"):
            assert "security" not in operation, (method, path)


def test_bounds_are_json_schema_keywords_that_generators_read(openapi: dict[str, Any]) -> None:
    """pydantic keeps a constraint written after a validator as a raw `ge`/`le` key, which no
    SDK generator understands; every bound must be minimum/maximum/… instead."""
    raw = [node for node in walk(openapi) if {"ge", "le", "gt", "lt"} & set(node)]
    assert raw == []
    schemas = openapi["components"]["schemas"]
    for model in ("ConsumptionCreate", "ConsumptionUpdate"):
        cliente = schemas[model]["properties"]["cliente"]
        assert (cliente["type"], cliente["minimum"], cliente["maximum"]) == (
            "integer",
            1,
            MAX_ID,
        )


def test_rules_the_schema_cannot_express_are_in_the_descriptions(
    openapi: dict[str, Any],
) -> None:
    paths = openapi["paths"]
    for path, method in (("/api/v1/clientes/", "post"), ("/api/v1/clientes/{id}/", "put")):
        assert "check digits" in paths[path][method]["description"]
    listed = {p["name"]: p for p in paths["/api/v1/consumos/"]["get"]["parameters"]}
    assert "not after ate" in listed["de"]["description"]
    resumo = {p["name"]: p for p in paths["/api/v1/analytics/resumo/"]["get"]["parameters"]}
    assert "240 months" in resumo["de"]["description"]
