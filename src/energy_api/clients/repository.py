from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.db import violated_constraint

DOCUMENT_UNIQUE = "uq_clients_document"


class DuplicateDocument(Exception):
    pass


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def get(session: AsyncSession, client_id: int) -> Client | None:
    return await session.get(Client, client_id)


async def get_by_document(session: AsyncSession, document: str) -> Client | None:
    return await session.scalar(select(Client).where(Client.document == document))


async def list_page(
    session: AsyncSession, *, search: str | None, limit: int, offset: int
) -> tuple[Sequence[Client], int]:
    condition = None
    if search:
        pattern = _like_pattern(search)
        condition = or_(
            Client.name.ilike(pattern, escape="\\"), Client.document.ilike(pattern, escape="\\")
        )
    rows = select(Client).order_by(Client.id).limit(limit).offset(offset)
    count = select(func.count()).select_from(Client)
    if condition is not None:
        rows = rows.where(condition)
        count = count.where(condition)
    items = (await session.scalars(rows)).all()
    total = await session.scalar(count)
    return items, int(total or 0)


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc) == DOCUMENT_UNIQUE:
            raise DuplicateDocument from exc
        raise


async def add(session: AsyncSession, *, name: str, document: str) -> Client:
    client = Client(name=name, document=document)
    session.add(client)
    await _flush(session)
    return client


async def update(session: AsyncSession, client: Client, values: dict[str, Any]) -> Client:
    for key, value in values.items():
        setattr(client, key, value)
    await _flush(session)
    return client


async def delete_by_id(session: AsyncSession, client_id: int) -> bool:
    """Delete a client; its consumptions go with it (ON DELETE CASCADE)."""
    result = await session.execute(
        delete(Client).where(Client.id == client_id).returning(Client.id)
    )
    return result.first() is not None
