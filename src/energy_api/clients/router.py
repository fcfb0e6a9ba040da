from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from energy_api.auth.dependencies import Editor, SettingsDep, Viewer
from energy_api.clients import service
from energy_api.clients.schemas import ClientCreate, ClientPage, ClientRead, ClientUpdate
from energy_api.clients.service import ClientChanges
from energy_api.db import ReplicaSessionDep, SessionDep
from energy_api.errors import problem_responses
from energy_api.http import conditional
from energy_api.http.conditional import IfMatch, IfNoneMatch
from energy_api.idempotency.route import IdempotentRoute
from energy_api.schemas import IdPath, Limit, Offset

router = APIRouter(prefix="/api/v1/clientes", tags=["clientes"], route_class=IdempotentRoute)


@router.get(
    "/",
    name="list",
    summary="List clients",
    response_model=ClientPage,
    responses=problem_responses(401, 403, 422),
)
async def list_clients(
    session: ReplicaSessionDep,
    _: Viewer,
    limit: Limit = 50,
    offset: Offset = 0,
    busca: Annotated[
        str | None,
        Query(max_length=255, description="Case-insensitive substring of nome or documento"),
    ] = None,
) -> ClientPage:
    items, total = await service.list_page(session, search=busca, limit=limit, offset=offset)
    return ClientPage(
        items=[ClientRead.from_model(c) for c in items], total=total, limit=limit, offset=offset
    )


@router.post(
    "/",
    name="create",
    summary="Create a client",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientRead,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_client(
    body: ClientCreate, session: SessionDep, settings: SettingsDep, _: Editor
) -> ClientRead:
    """Create a client.

    `documento` is a CPF (11 digits) or a CNPJ (14 characters, the last two digits; letters
    allowed in the first twelve), with valid check digits unless the service runs with
    `DOCUMENT_VALIDATION=lenient`; `.`, `-`, `/` and spaces are ignored, and it must be unique
    (409).
    """
    client = await service.create(session, settings, name=body.nome, document=body.documento)
    return ClientRead.from_model(client)


@router.get(
    "/{id}/",
    name="get",
    summary="Get a client",
    response_model=ClientRead,
    responses=conditional.read_responses() | problem_responses(401, 403, 404, 422),
)
async def get_client(
    client_id: IdPath,
    session: SessionDep,
    _: Viewer,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> ClientRead | Response:
    """A client, with its ETag; 304 when If-None-Match names it."""
    client = await service.get(session, client_id)
    return conditional.respond(response, service.etag(client), if_none_match) or (
        ClientRead.from_model(client)
    )


@router.put(
    "/{id}/",
    name="replace",
    summary="Replace a client",
    response_model=ClientRead,
    responses=conditional.write_responses() | problem_responses(401, 403, 404, 409, 412, 422),
)
async def replace_client(
    client_id: IdPath,
    body: ClientCreate,
    session: SessionDep,
    settings: SettingsDep,
    _: Editor,
    response: Response,
    if_match: IfMatch = None,
) -> ClientRead:
    """Replace a client's name and document.

    `documento` is a CPF (11 digits) or a CNPJ (14 characters, the last two digits; letters
    allowed in the first twelve), with valid check digits unless the service runs with
    `DOCUMENT_VALIDATION=lenient`; `.`, `-`, `/` and spaces are ignored, and it must be unique
    (409).
    """
    changes = ClientChanges(name=body.nome, document=body.documento)
    client = await service.update(session, settings, client_id, changes, if_match=if_match)
    conditional.respond(response, service.etag(client))
    return ClientRead.from_model(client)


@router.patch(
    "/{id}/",
    name="update",
    summary="Update some fields of a client",
    response_model=ClientRead,
    responses=conditional.write_responses() | problem_responses(401, 403, 404, 409, 412, 422),
)
async def update_client(
    client_id: IdPath,
    body: ClientUpdate,
    session: SessionDep,
    settings: SettingsDep,
    _: Editor,
    response: Response,
    if_match: IfMatch = None,
) -> ClientRead:
    """Change a client's name or document.

    `documento` is a CPF (11 digits) or a CNPJ (14 characters, the last two digits; letters
    allowed in the first twelve), with valid check digits unless the service runs with
    `DOCUMENT_VALIDATION=lenient`; `.`, `-`, `/` and spaces are ignored, and it must be unique
    (409).
    """
    # PATCH fields are absent or set (null is refused), so None means "leave as it is".
    changes = ClientChanges(name=body.nome, document=body.documento)
    client = await service.update(session, settings, client_id, changes, if_match=if_match)
    conditional.respond(response, service.etag(client))
    return ClientRead.from_model(client)


@router.delete(
    "/{id}/",
    name="delete",
    summary="Delete a client and its consumptions",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def delete_client(
    client_id: IdPath, session: SessionDep, _: Editor, if_match: IfMatch = None
) -> Response:
    """Delete the client and all of its consumptions (with If-Match, only that version)."""
    await service.delete(session, client_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
