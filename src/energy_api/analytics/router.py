from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from energy_api import months
from energy_api.analytics import service
from energy_api.analytics.schemas import (
    Anomalies,
    Anomaly,
    Grouping,
    Growth,
    MeanConsumption,
    MonthlySeries,
    Ranking,
    RankingItem,
    SeriesPoint,
    Summary,
    Trend,
)
from energy_api.auth.dependencies import Viewer
from energy_api.db import ReplicaReaderDep
from energy_api.errors import problem_responses
from energy_api.http import csv_export
from energy_api.http.csv_export import DialectQuery, FormatQuery
from energy_api.http.lean import LeanRoute
from energy_api.http.responses import ModelResponse
from energy_api.schemas import MAX_ID, MonthQuery

# Every route reads through the replica's `Reader` and answers a `Response` it renders itself,
# so `LeanRoute` runs them without FastAPI's generic dependency resolution.
router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], route_class=LeanRoute)

ClientQuery = Annotated[int, Query(ge=1, le=MAX_ID, description="Client id")]
OptionalClient = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Client id; omitted: the whole portfolio")
]
From = Annotated[
    MonthQuery | None,
    Query(
        description=f"First month reported (YYYY-MM, {months.RANGE_TEXT}), inclusive; not after "
        "ate, and at most 240 months before it"
    ),
]
To = Annotated[
    MonthQuery | None,
    Query(description=f"Last month reported (YYYY-MM, {months.RANGE_TEXT}), inclusive"),
]


@router.get(
    "/media-consumo/",
    name="media-consumo",
    summary="Mean and latest consumption of a client",
    response_model=MeanConsumption,
    responses=problem_responses(401, 403, 404, 422),
)
async def mean_consumption(
    cliente_id: ClientQuery, reader: ReplicaReaderDep, _: Viewer
) -> ModelResponse:
    """A client's mean monthly consumption and its latest month's value."""
    return ModelResponse(await service.mean_consumption(reader, cliente_id))


@router.get(
    "/resumo/",
    name="resumo",
    summary="Totals, mean and extremes over a range",
    response_model=Summary,
    responses=problem_responses(401, 403, 404, 422),
)
async def summary(
    reader: ReplicaReaderDep,
    _: Viewer,
    cliente_id: OptionalClient = None,
    de: From = None,
    ate: To = None,
) -> ModelResponse:
    """Totals, mean, extremes and kWh per day over the months in range."""
    return ModelResponse(await service.summary(reader, cliente_id, de, ate))


@router.get(
    "/serie-mensal/",
    name="serie-mensal",
    summary="Series by month, quarter or year",
    response_model=MonthlySeries,
    responses=csv_export.csv_responses("One row per period: " + ",".join(SeriesPoint.model_fields))
    | problem_responses(401, 403, 404, 422),
)
async def monthly_series(
    request: Request,
    reader: ReplicaReaderDep,
    _: Viewer,
    cliente_id: OptionalClient = None,
    de: From = None,
    ate: To = None,
    agrupar: Annotated[
        Grouping,
        Query(
            description="Period: month, quarter or year. With trimestre/ano, `de` must open and "
            "`ate` must close a period."
        ),
    ] = "mes",
    formato: FormatQuery = None,
    dialeto: DialectQuery = "rfc4180",
) -> Response:
    """Totals per period, with changes against the previous period and a year before."""
    series = await service.series(reader, cliente_id, agrupar, de, ate)
    if csv_export.wants_csv(request, formato):
        return csv_export.of_models("serie-mensal.csv", SeriesPoint, series.pontos, dialeto)
    return ModelResponse(series)


@router.get(
    "/crescimento/",
    name="crescimento",
    summary="Latest month against the month before and a year before",
    response_model=Growth,
    responses=problem_responses(401, 403, 404, 422),
)
async def growth(
    cliente_id: ClientQuery, reader: ReplicaReaderDep, _: Viewer, de: From = None, ate: To = None
) -> ModelResponse:
    """The client's latest month in range against the calendar month before and a year before."""
    return ModelResponse(await service.growth(reader, cliente_id, de, ate))


@router.get(
    "/ranking/",
    name="ranking",
    summary="Clients ranked by total consumption",
    response_model=Ranking,
    responses=csv_export.csv_responses("One row per client: " + ",".join(RankingItem.model_fields))
    | problem_responses(401, 403, 422),
)
async def ranking(
    request: Request,
    reader: ReplicaReaderDep,
    _: Viewer,
    de: From = None,
    ate: To = None,
    limite: Annotated[int, Query(ge=1, le=100, description="Items to return")] = 10,
    formato: FormatQuery = None,
    dialeto: DialectQuery = "rfc4180",
) -> Response:
    """Clients by total consumption in range; ties share a position."""
    answer = await service.ranking(reader, de, ate, limite)
    if csv_export.wants_csv(request, formato):
        return csv_export.of_models("ranking.csv", RankingItem, answer.itens, dialeto)
    return ModelResponse(answer)


@router.get(
    "/tendencia/",
    name="tendencia",
    summary="Trend (least-squares slope) of a client",
    response_model=Trend,
    responses=problem_responses(401, 403, 404, 422),
)
async def trend(
    cliente_id: ClientQuery,
    reader: ReplicaReaderDep,
    _: Viewer,
    meses: Annotated[
        int, Query(ge=3, le=120, description="Calendar months ending at the latest with data")
    ] = 12,
    de: From = None,
    ate: To = None,
) -> ModelResponse:
    """Least-squares slope of the client's consumption over its last `meses` months."""
    return ModelResponse(await service.trend(reader, cliente_id, meses, de, ate))


@router.get(
    "/anomalias/",
    name="anomalias",
    summary="Months out of line with the client's history",
    response_model=Anomalies,
    responses=csv_export.csv_responses("One row per anomaly: " + ",".join(Anomaly.model_fields))
    | problem_responses(401, 403, 404, 422),
)
async def anomalies(
    request: Request,
    reader: ReplicaReaderDep,
    _: Viewer,
    cliente_id: OptionalClient = None,
    de: From = None,
    ate: To = None,
    limite: Annotated[int, Query(ge=1, le=1000, description="Items to return")] = 100,
    formato: FormatQuery = None,
    dialeto: DialectQuery = "rfc4180",
) -> Response:
    """Months far from the client's own last 12 months (MAD) or from a year before."""
    answer = await service.anomalies(reader, cliente_id, de, ate, limite)
    if csv_export.wants_csv(request, formato):
        return csv_export.of_models("anomalias.csv", Anomaly, answer.itens, dialeto)
    return ModelResponse(answer)
