from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from energy_api.analytics import service
from energy_api.analytics.schemas import MeanConsumption
from energy_api.auth.dependencies import Viewer
from energy_api.db import SessionDep
from energy_api.errors import problem_responses
from energy_api.schemas import MAX_ID

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

ClientQuery = Annotated[int, Query(ge=1, le=MAX_ID, description="Client id")]


@router.get(
    "/media-consumo/",
    name="media-consumo",
    summary="Mean and latest consumption of a client",
    response_model=MeanConsumption,
    responses=problem_responses(401, 403, 404, 422),
)
async def mean_consumption(
    cliente_id: ClientQuery, session: SessionDep, _: Viewer
) -> MeanConsumption:
    """A client's mean monthly consumption and its latest month's value."""
    return await service.mean_consumption(session, cliente_id)
