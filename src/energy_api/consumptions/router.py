from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from energy_api import months
from energy_api.auth.dependencies import Editor, Viewer
from energy_api.consumptions import service
from energy_api.consumptions.schemas import (
    ConsumptionCreate,
    ConsumptionPage,
    ConsumptionRead,
    ConsumptionUpdate,
)
from energy_api.consumptions.service import ConsumptionChanges
from energy_api.db import ReplicaSessionDep, SessionDep
from energy_api.errors import problem_responses
from energy_api.idempotency.route import IdempotentRoute
from energy_api.schemas import MAX_ID, IdPath, Limit, MonthQuery, Offset

router = APIRouter(prefix="/api/v1/consumos", tags=["consumos"], route_class=IdempotentRoute)


@router.get(
    "/",
    name="list",
    summary="List consumptions",
    response_model=ConsumptionPage,
    responses=problem_responses(401, 403, 422),
)
async def list_consumptions(
    session: ReplicaSessionDep,
    _: Viewer,
    cliente_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    de: Annotated[
        MonthQuery | None,
        Query(description=f"First month (YYYY-MM, {months.RANGE_TEXT}), inclusive; not after ate"),
    ] = None,
    ate: Annotated[
        MonthQuery | None,
        Query(description=f"Last month (YYYY-MM, {months.RANGE_TEXT}), inclusive"),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ConsumptionPage:
    """Consumptions, newest month first."""
    rows, total = await service.list_page(
        session, client_id=cliente_id, start=de, end=ate, limit=limit, offset=offset
    )
    return ConsumptionPage(
        items=[ConsumptionRead.from_model(c, name) for c, name in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/",
    name="create",
    summary="Record a month's consumption",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsumptionRead,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_consumption(
    body: ConsumptionCreate, session: SessionDep, _: Editor
) -> ConsumptionRead:
    """Record a client's consumption for one month (one record per client and month)."""
    consumption, name = await service.create(
        session, client_id=body.cliente, month=body.mes, kwh=body.consumo_kwh
    )
    return ConsumptionRead.from_model(consumption, name)


@router.get(
    "/{id}/",
    name="get",
    summary="Get a consumption",
    response_model=ConsumptionRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_consumption(
    consumption_id: IdPath, session: SessionDep, _: Viewer
) -> ConsumptionRead:
    return ConsumptionRead.from_model(*await service.get(session, consumption_id))


@router.put(
    "/{id}/",
    name="replace",
    summary="Replace a consumption",
    response_model=ConsumptionRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def replace_consumption(
    consumption_id: IdPath, body: ConsumptionCreate, session: SessionDep, _: Editor
) -> ConsumptionRead:
    changes = ConsumptionChanges(client_id=body.cliente, month=body.mes, kwh=body.consumo_kwh)
    return ConsumptionRead.from_model(*await service.update(session, consumption_id, changes))


@router.patch(
    "/{id}/",
    name="update",
    summary="Update some fields of a consumption",
    response_model=ConsumptionRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_consumption(
    consumption_id: IdPath, body: ConsumptionUpdate, session: SessionDep, _: Editor
) -> ConsumptionRead:
    # PATCH fields are absent or set (null is refused), so None means "leave as it is".
    changes = ConsumptionChanges(client_id=body.cliente, month=body.mes, kwh=body.consumo_kwh)
    return ConsumptionRead.from_model(*await service.update(session, consumption_id, changes))


@router.delete(
    "/{id}/",
    name="delete",
    summary="Delete a consumption",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_consumption(consumption_id: IdPath, session: SessionDep, _: Editor) -> Response:
    await service.delete(session, consumption_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
