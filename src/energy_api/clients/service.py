"""Client rules: normalised, validated, unique documents; the client locks writers take."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api import etags
from energy_api.clients import repository
from energy_api.clients.documents import DocumentError, validate_document
from energy_api.clients.models import Client
from energy_api.config import Settings
from energy_api.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from energy_api.summaries import service as summaries


@dataclass(frozen=True, slots=True)
class ClientChanges:
    """The fields to change; None leaves a field as it is."""

    name: str | None = None
    document: str | None = None


def _document(settings: Settings, raw: str) -> str:
    try:
        return validate_document(raw, strict=settings.document_validation == "strict")
    except DocumentError as exc:
        raise InvalidInput("documento", str(exc)) from None


def _duplicate(document: str) -> Conflict:
    return Conflict(f"A client with documento {document} already exists")


def _not_found(client_id: int) -> NotFound:
    return NotFound(f"Client {client_id} not found")


def etag(client: Client) -> str:
    """The strong ETag of a client as GET shows it."""
    return etags.of(client.id, client.name, client.document)


def _check_version(client: Client, if_match: str | None) -> None:
    """412 unless If-Match names the client's current version; called under its lock."""
    current = etag(client)
    if not etags.if_match_holds(if_match, current):
        raise PreconditionFailed(f"Client {client.id} has changed since it was read", etag=current)


async def get(session: AsyncSession, client_id: int) -> Client:
    client = await repository.get(session, client_id)
    if client is None:
        raise _not_found(client_id)
    return client


async def lock(session: AsyncSession, client_ids: Iterable[int]) -> set[int]:
    """Lock these clients to write their records (see `energy_api.summaries` for the order);
    the ids of those that exist. Held until the transaction ends."""
    return await repository.lock(session, client_ids, exclusive=False)


async def existing(session: AsyncSession, client_ids: Iterable[int]) -> set[int]:
    """The ids of these clients that exist, read without locking them."""
    return await repository.existing_ids(session, client_ids)


async def list_page(
    session: AsyncSession, *, search: str | None, limit: int, offset: int
) -> tuple[Sequence[Client], int]:
    return await repository.list_page(session, search=search, limit=limit, offset=offset)


async def create(session: AsyncSession, settings: Settings, *, name: str, document: str) -> Client:
    normalised = _document(settings, document)
    try:
        return await repository.add(session, name=name, document=normalised)
    except repository.DuplicateDocument:
        raise _duplicate(normalised) from None


async def update(
    session: AsyncSession,
    settings: Settings,
    client_id: int,
    changes: ClientChanges,
    *,
    if_match: str | None = None,
) -> Client:
    """Change a client's name or document; a client deleted meanwhile is a 404. With
    `if_match`, only while the client still has one of those ETags (checked under its lock)."""
    document = None if changes.document is None else _document(settings, changes.document)
    if not await repository.lock(session, [client_id], exclusive=True):
        raise _not_found(client_id)
    client = await get(session, client_id)
    _check_version(client, if_match)
    try:
        return await repository.update(session, client, name=changes.name, document=document)
    except repository.DuplicateDocument:
        raise _duplicate(document or "") from None


async def delete(session: AsyncSession, client_id: int, *, if_match: str | None = None) -> None:
    """Delete the client and its consumptions (cascade), taking them out of the summaries;
    with `if_match`, only while the client still has one of those ETags."""
    if not await repository.lock(session, [client_id], exclusive=True):
        raise _not_found(client_id)
    if if_match is not None:
        _check_version(await get(session, client_id), if_match)
    async with summaries.forgetting_client(session, client_id):
        await repository.delete_by_id(session, client_id)


@dataclass(frozen=True, slots=True)
class Present:
    """What this service already holds of clients being imported."""

    by_id: dict[int, tuple[str, str]]  # id → (name, document)
    by_document: dict[str, int]  # document → id


async def present(
    session: AsyncSession, client_ids: Iterable[int], documents: Iterable[str]
) -> Present:
    return Present(
        await repository.by_ids(session, client_ids),
        await repository.ids_by_documents(session, documents),
    )


async def adopt(session: AsyncSession, clients: Sequence[tuple[int, str, str]]) -> None:
    """Create clients under the ids another system gave them, (id, name, normalised document)
    each, already judged by the caller against `present`; new clients made afterwards get ids
    past them. They have no records yet, so the summaries do not change."""
    await repository.add_with_ids(session, clients)


def document(raw: str, *, strict: bool) -> str:
    """A document normalised, with its check digits verified when `strict`; raises
    `DocumentError` (a ValueError) saying what is wrong."""
    return validate_document(raw, strict=strict)
