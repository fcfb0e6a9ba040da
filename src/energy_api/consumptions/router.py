from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from energy_api import months
from energy_api.auth.dependencies import Editor, SettingsDep, Viewer
from energy_api.consumptions import bulk, service
from energy_api.consumptions.bulk_schemas import BULK_REQUEST_SCHEMA, BulkReport, BulkRequest
from energy_api.consumptions.schemas import (
    ConsumptionCreate,
    ConsumptionPage,
    ConsumptionRead,
    ConsumptionUpdate,
)
from energy_api.consumptions.service import ConsumptionChanges
from energy_api.db import ReplicaSessionDep, SessionDep, StreamReaderDep
from energy_api.errors import UnsupportedMediaType, problem_responses
from energy_api.http import conditional, csv_export
from energy_api.http.conditional import IfMatch, IfNoneMatch
from energy_api.http.csv_export import DialectQuery, FormatQuery
from energy_api.idempotency.route import IdempotentRoute
from energy_api.schemas import MAX_ID, IdPath, Limit, MonthQuery, Offset

router = APIRouter(prefix="/api/v1/consumos", tags=["consumos"], route_class=IdempotentRoute)


@router.get(
    "/",
    name="list",
    summary="List consumptions",
    response_model=ConsumptionPage,
    responses=csv_export.csv_responses(
        "Every matching record (limit and offset do not apply), by client then month: "
        + ",".join(service.EXPORT_COLUMNS)
    )
    | problem_responses(401, 403, 422),
)
async def list_consumptions(
    request: Request,
    session: ReplicaSessionDep,
    reader: StreamReaderDep,
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
    formato: FormatQuery = None,
    dialeto: DialectQuery = "rfc4180",
) -> ConsumptionPage | Response:
    """Consumptions, newest month first.

    As CSV (`?formato=csv` or `Accept: text/csv`): every matching record, streamed, a client's
    months together and oldest first; `limit` and `offset` do not apply.
    """
    if csv_export.wants_csv(request, formato):
        chunks = service.export(reader, client_id=cliente_id, start=de, end=ate)
        return csv_export.response("consumos.csv", service.EXPORT_COLUMNS, chunks, dialeto)
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


# Before the `/{id}/` routes, which would otherwise take `lote` for an id and answer 422.
@router.api_route(
    "/lote/",
    methods=["GET", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def bulk_load_other_methods() -> None:
    """`lote/` is the bulk load, not a record: any other method than POST is 405."""
    raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED, headers={"Allow": "POST"})


@router.get(
    "/{id}/",
    name="get",
    summary="Get a consumption",
    response_model=ConsumptionRead,
    responses=conditional.read_responses() | problem_responses(401, 403, 404, 422),
)
async def get_consumption(
    consumption_id: IdPath,
    session: SessionDep,
    _: Viewer,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> ConsumptionRead | Response:
    """A consumption, with its ETag; 304 when If-None-Match names it."""
    consumption, name = await service.get(session, consumption_id)
    return conditional.respond(
        response, service.etag(consumption, name), if_none_match
    ) or ConsumptionRead.from_model(consumption, name)


@router.put(
    "/{id}/",
    name="replace",
    summary="Replace a consumption",
    response_model=ConsumptionRead,
    responses=conditional.write_responses() | problem_responses(401, 403, 404, 409, 412, 422),
)
async def replace_consumption(
    consumption_id: IdPath,
    body: ConsumptionCreate,
    session: SessionDep,
    _: Editor,
    response: Response,
    if_match: IfMatch = None,
) -> ConsumptionRead:
    changes = ConsumptionChanges(client_id=body.cliente, month=body.mes, kwh=body.consumo_kwh)
    consumption, name = await service.update(session, consumption_id, changes, if_match=if_match)
    conditional.respond(response, service.etag(consumption, name))
    return ConsumptionRead.from_model(consumption, name)


@router.patch(
    "/{id}/",
    name="update",
    summary="Update some fields of a consumption",
    response_model=ConsumptionRead,
    responses=conditional.write_responses() | problem_responses(401, 403, 404, 409, 412, 422),
)
async def update_consumption(
    consumption_id: IdPath,
    body: ConsumptionUpdate,
    session: SessionDep,
    _: Editor,
    response: Response,
    if_match: IfMatch = None,
) -> ConsumptionRead:
    # PATCH fields are absent or set (null is refused), so None means "leave as it is".
    changes = ConsumptionChanges(client_id=body.cliente, month=body.mes, kwh=body.consumo_kwh)
    consumption, name = await service.update(session, consumption_id, changes, if_match=if_match)
    conditional.respond(response, service.etag(consumption, name))
    return ConsumptionRead.from_model(consumption, name)


@router.delete(
    "/{id}/",
    name="delete",
    summary="Delete a consumption",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def delete_consumption(
    consumption_id: IdPath, session: SessionDep, _: Editor, if_match: IfMatch = None
) -> Response:
    """Delete a consumption (with If-Match, only that version)."""
    await service.delete(session, consumption_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_BULK_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": BULK_REQUEST_SCHEMA},
        "text/csv": {
            "schema": {
                "type": "string",
                "description": (
                    "Header cliente,mes,consumo_kwh; RFC 4180 with `.` decimals, or `;` with "
                    "decimal commas (`1.234,56`); UTF-8, a BOM is allowed"
                ),
            },
            "example": "cliente,mes,consumo_kwh\n1,2026-01,350.50\n",
        },
    },
}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@router.post(
    "/lote/",
    name="bulk",
    summary="Load many consumptions at once",
    response_model=BulkReport,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
    openapi_extra={"requestBody": _BULK_BODY},
)
async def bulk_load(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: Editor,
    dry_run: Annotated[
        bool, Query(description="Judge every row and report, writing nothing")
    ] = False,
    modo: Annotated[
        bulk.Mode | None, Query(description="For CSV bodies (JSON bodies carry their own)")
    ] = None,
    conflito: Annotated[
        bulk.OnConflict | None,
        Query(description="For CSV bodies (JSON bodies carry their own)"),
    ] = None,
) -> BulkReport:
    """Up to 100,000 records as JSON (`itens`) or CSV (`text/csv`), each judged by the rules
    of `POST /api/v1/consumos/`; a row is also rejected when its client does not exist or it
    repeats the client and month of an earlier row.

    `tudo_ou_nada` (default) writes every row or none: any rejected row is a 422 whose
    `relatorio` lists them. `parcial` writes the valid rows and reports the others (200).
    The report gives each rejected row's `indice` (JSON, from 0) or `linha` (CSV), field and
    message. The body may be up to `BULK_MAX_BYTES` (default 20 MiB).
    """
    body = await request.body()
    media_type = _media_type(request)
    if media_type == "text/csv":
        parsed = bulk.parse_csv(body)
    elif media_type == "application/json":
        try:
            envelope = BulkRequest.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            ) from None
        parsed = bulk.parse_items(envelope.itens)
        modo = envelope.modo or modo
        conflito = envelope.conflito or conflito
    else:
        sent = f"got {media_type!r}" if media_type else "the header is missing"
        raise UnsupportedMediaType(f"Content-Type must be application/json or text/csv ({sent})")
    try:
        outcome = await bulk.load(
            session,
            parsed,
            mode=modo or bulk.Mode.all_or_nothing,
            on_conflict=conflito or bulk.OnConflict.error,
            dry_run=dry_run,
            statement_timeout_ms=settings.bulk_statement_timeout_ms,
        )
    except bulk.BatchRejected as exc:
        exc.extensions["relatorio"] = BulkReport.from_outcome(exc.outcome).model_dump()
        raise
    return BulkReport.from_outcome(outcome)
