"""`LeanRoute` runs simple routes without FastAPI's generic dependency resolution, and answers
exactly what FastAPI's own handler answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from energy_api.analytics.router import router as analytics_router
from energy_api.consumptions.router import router as consumptions_router
from energy_api.errors import Forbidden, install_error_handlers
from energy_api.http.lean import LeanPlan, LeanRoute
from energy_api.http.responses import ModelResponse


class Answer(BaseModel):
    client: int
    caller: str
    order: list[str]


async def caller(request: Request) -> str:
    calls: list[str] = request.state.calls
    calls.append("caller")
    if request.headers.get("x-caller") == "nobody":
        raise Forbidden("nobody may ask")
    return request.headers.get("x-caller", "anonymous")


async def reader(request: Request) -> str:
    calls: list[str] = request.state.calls
    calls.append("reader")
    return "reader"


async def gate(request: Request) -> None:
    """An inclusion-level dependency: refuses requests carrying `x-closed`."""
    if "x-closed" in request.headers:
        raise Forbidden("closed")


def simple_app(route_class: type[APIRoute], *, include_gate: bool = False) -> FastAPI:
    router = APIRouter(prefix="/r", route_class=route_class)

    @router.get("/answer/{kind}/")
    async def answer(
        kind: int,
        request: Request,
        who: Annotated[str, Depends(caller)],
        _: Annotated[str, Depends(reader)],
        client: Annotated[int, Query(ge=1, le=1000)],
        limit: Annotated[int, Query(ge=1)] = 10,
    ) -> ModelResponse:
        return ModelResponse(
            Answer(client=client * kind + limit, caller=who, order=request.state.calls)
        )

    @router.get("/plain/")
    async def plain(client: int) -> dict[str, Any]:  # not a Response: FastAPI's handler
        return {"client": client}

    app = FastAPI()
    install_error_handlers(app)

    @app.middleware("http")
    async def calls(request: Request, call_next: Callable[..., Any]) -> Any:
        request.state.calls = []
        return await call_next(request)

    app.include_router(router, dependencies=[Depends(gate)] if include_gate else None)
    return app


@pytest.fixture
def solves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times FastAPI's generic resolution ran."""
    counted: list[int] = []
    original = fastapi_routing.solve_dependencies  # type: ignore[attr-defined]

    async def counting(**kwargs: Any) -> Any:
        counted.append(1)
        return await original(**kwargs)

    monkeypatch.setattr(fastapi_routing, "solve_dependencies", counting)
    return counted


async def get(app: FastAPI, url: str, **headers: str) -> tuple[int, Any]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get(url, headers=headers)
    return response.status_code, response.json()


CASES = [
    ("/r/answer/2/?client=7", {}),
    ("/r/answer/2/?client=7&limit=3", {"x-caller": "ana"}),
    ("/r/answer/2/?client=7&client=8", {}),
    ("/r/answer/2/", {}),  # missing client
    ("/r/answer/2/?client=abc", {}),
    ("/r/answer/2/?client=0&limit=0", {}),  # two errors
    ("/r/answer/x/?client=5", {}),  # a bad path parameter
    ("/r/answer/2/?client=abc", {"x-caller": "nobody"}),  # the dependency answers first
    ("/r/plain/?client=3", {}),
    ("/r/plain/?client=z", {}),
]


@pytest.mark.parametrize(("url", "headers"), CASES)
async def test_a_lean_route_answers_what_fastapis_handler_answers(
    url: str, headers: dict[str, str]
) -> None:
    assert await get(simple_app(LeanRoute), url, **headers) == await get(
        simple_app(APIRoute), url, **headers
    )


async def test_a_lean_route_skips_the_generic_resolution(solves: list[int]) -> None:
    app = simple_app(LeanRoute)
    status, body = await get(app, "/r/answer/3/?client=2", **{"x-caller": "ana"})
    assert (status, body) == (200, {"client": 16, "caller": "ana", "order": ["caller", "reader"]})
    assert solves == []
    assert (await get(app, "/r/plain/?client=3"))[0] == 200
    assert solves == [1]  # a route of another kind: FastAPI's handler


async def test_the_dependencies_an_inclusion_adds_still_run(solves: list[int]) -> None:
    app = simple_app(LeanRoute, include_gate=True)
    status, body = await get(app, "/r/answer/3/?client=2", **{"x-closed": "1"})
    assert status == 403 and body["detail"] == "closed"
    assert (await get(app, "/r/answer/3/?client=2"))[0] == 200
    assert solves == []  # the gate needs only the request: still lean


async def test_an_overridden_dependency_gets_fastapis_handler(solves: list[int]) -> None:
    app = simple_app(LeanRoute)

    async def substitute(request: Request, x_caller: str = "someone") -> str:
        request.state.calls.append("substitute")
        return "substitute"

    app.dependency_overrides[caller] = substitute
    status, body = await get(app, "/r/answer/1/?client=1")
    assert (status, body["caller"], body["order"]) == (200, "substitute", ["substitute", "reader"])
    assert solves == [1]


def test_only_simple_routes_have_a_plan() -> None:
    planned = {
        (method, route.path)
        for router in (analytics_router, consumptions_router)
        for route in router.routes
        if isinstance(route, APIRoute) and LeanPlan.of(route.dependant) is not None
        for method in route.methods or ()
    }
    analytics = {
        ("GET", route.path) for route in analytics_router.routes if isinstance(route, APIRoute)
    }
    assert ("GET", "/api/v1/analytics/media-consumo/") in analytics
    assert analytics <= planned  # each reads through the reader and renders its response
    # Routes holding a session (a dependency with yield) or reading a body are not simple.
    assert ("GET", "/api/v1/consumos/") not in planned
    assert ("POST", "/api/v1/consumos/") not in planned


async def test_media_consumo_runs_lean(
    client: AsyncClient, viewer_headers: dict[str, str], solves: list[int]
) -> None:
    response = await client.get(
        "/api/v1/analytics/media-consumo/?cliente_id=999999", headers=viewer_headers
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert solves == []
    response = await client.get(
        "/api/v1/analytics/media-consumo/?cliente_id=0", headers=viewer_headers
    )
    assert response.status_code == 422
    assert "cliente_id" in response.text
    response = await client.get("/api/v1/analytics/media-consumo/?cliente_id=abc")
    assert response.status_code == 401  # the caller is checked before the parameters


class Unhashable:
    """A dependency object that cannot be a key of `dependency_overrides`."""

    __hash__ = None  # type: ignore[assignment]

    async def __call__(self, request: Request) -> str:
        return "unhashable"


def test_a_route_with_an_unhashable_dependency_keeps_fastapis_handler() -> None:
    router = APIRouter(route_class=LeanRoute)

    @router.get("/u/")
    async def endpoint(value: Annotated[str, Depends(Unhashable())]) -> ModelResponse:
        return ModelResponse(Answer(client=1, caller=value, order=[]))

    [route] = [r for r in router.routes if isinstance(r, APIRoute)]
    assert LeanPlan.of(route.dependant) is None
