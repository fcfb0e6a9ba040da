"""Client rules: normalised, validated, unique documents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.analytics import repository as analytics_repository
from energy_api.clients import repository
from energy_api.clients.documents import DocumentError, validate_document
from energy_api.clients.models import Client
from energy_api.config import Settings
from energy_api.errors import Conflict, InvalidInput, NotFound


def _document(settings: Settings, raw: str) -> str:
    try:
        return validate_document(raw, strict=settings.document_validation == "strict")
    except DocumentError as exc:
        raise InvalidInput("documento", str(exc)) from None


def _duplicate(document: str) -> Conflict:
    return Conflict(f"A client with documento {document} already exists")


async def get(session: AsyncSession, client_id: int) -> Client:
    client = await repository.get(session, client_id)
    if client is None:
        raise NotFound(f"Client {client_id} not found")
    return client


async def list_page(
    session: AsyncSession, *, search: str | None, limit: int, offset: int
) -> tuple[Sequence[Client], int]:
    return await repository.list_page(session, search=search, limit=limit, offset=offset)


async def create(session: AsyncSession, settings: Settings, *, nome: str, documento: str) -> Client:
    document = _document(settings, documento)
    try:
        return await repository.add(session, name=nome, document=document)
    except repository.DuplicateDocument:
        raise _duplicate(document) from None


async def update(
    session: AsyncSession, settings: Settings, client_id: int, changes: dict[str, Any]
) -> Client:
    """Apply the given wire fields (`nome`, `documento`); absent ones are left as they are."""
    client = await get(session, client_id)
    values: dict[str, Any] = {}
    if "nome" in changes:
        values["name"] = changes["nome"]
    if "documento" in changes:
        values["document"] = _document(settings, changes["documento"])
    try:
        return await repository.update(session, client, values)
    except repository.DuplicateDocument:
        raise _duplicate(values["document"]) from None


async def delete(session: AsyncSession, client_id: int) -> None:
    """Delete the client; its consumptions go with it (cascade), out of the summaries first."""
    await analytics_repository.forget_client(session, client_id)
    if not await repository.delete_by_id(session, client_id):
        raise NotFound(f"Client {client_id} not found")
