from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients.models import Client
from energy_api.db import flush
from energy_api.db.functions import BoundRows, unicode_ilike

DOCUMENT_UNIQUE = "uq_clients_document"
# Past this many ids a lock binds them as one array (a bulk load may name 100,000 clients).
_MANY_IDS = 1000
_IDS = BoundRows("locked_ids", (("id", Integer()),))


class DuplicateDocument(Exception):
    pass


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def get(session: AsyncSession, client_id: int) -> Client | None:
    return await session.get(Client, client_id)


async def lock(session: AsyncSession, client_ids: Iterable[int], *, exclusive: bool) -> set[int]:
    """Lock the clients' rows until the transaction ends, in ascending id order; the ids of
    those that exist.

    `exclusive=False` (FOR NO KEY UPDATE) is taken to write a client's records: it excludes
    other writers of the same client and its deletion, not the foreign-key checks of records
    being inserted. `exclusive=True` (FOR UPDATE) is taken to change or delete the client.
    SQLite has no row locks; its writing transactions exclude each other whole.
    """
    ids = sorted(set(client_ids))
    if not ids:
        return set()
    condition, params = _among(session, ids)
    statement = select(Client.id).where(condition).order_by(Client.id)
    statement = statement.with_for_update(key_share=not exclusive)
    return set((await session.scalars(statement, params)).all())


def _among(session: AsyncSession, ids: Sequence[int]) -> tuple[ColumnElement[bool], dict[str, Any]]:
    """`Client.id IN ids`, bound as one array when there are many."""
    if len(ids) <= _MANY_IDS:
        return Client.id.in_(ids), {}
    dialect = session.get_bind().dialect.name
    condition = Client.id.in_(select(_IDS.table(dialect).c.id))
    return condition, _IDS.params(dialect, [(id_,) for id_ in ids])


async def existing_ids(session: AsyncSession, client_ids: Iterable[int]) -> set[int]:
    """Which of these clients exist (no lock)."""
    ids = sorted(set(client_ids))
    if not ids:
        return set()
    condition, params = _among(session, ids)
    return set((await session.scalars(select(Client.id).where(condition), params)).all())


async def get_by_document(session: AsyncSession, document: str) -> Client | None:
    return await session.scalar(select(Client).where(Client.document == document))


async def list_page(
    session: AsyncSession, *, search: str | None, limit: int, offset: int
) -> tuple[Sequence[Client], int]:
    condition = None
    if search:
        pattern = _like_pattern(search)
        condition = or_(
            unicode_ilike(Client.name, pattern), unicode_ilike(Client.document, pattern)
        )
    rows = select(Client).order_by(Client.id).limit(limit).offset(offset)
    count = select(func.count()).select_from(Client)
    if condition is not None:
        rows = rows.where(condition)
        count = count.where(condition)
    items = (await session.scalars(rows)).all()
    total = await session.scalar(count)
    return items, int(total or 0)


async def add(session: AsyncSession, *, name: str, document: str) -> Client:
    client = Client(name=name, document=document)
    session.add(client)
    await flush(session, {DOCUMENT_UNIQUE: DuplicateDocument})
    return client


async def update(
    session: AsyncSession, client: Client, *, name: str | None, document: str | None
) -> Client:
    """Set the given fields (None: unchanged) of a client the caller has locked."""
    if name is not None:
        client.name = name
    if document is not None:
        client.document = document
    await flush(session, {DOCUMENT_UNIQUE: DuplicateDocument})
    return client


async def delete_by_id(session: AsyncSession, client_id: int) -> bool:
    """Delete a client; its consumptions go with it (ON DELETE CASCADE)."""
    result = await session.execute(
        delete(Client).where(Client.id == client_id).returning(Client.id)
    )
    return result.first() is not None


_ADOPTED = BoundRows(
    "adopted_clients", (("id", Integer()), ("name", String()), ("document", String()))
)
_DOCUMENTS = BoundRows("wanted_documents", (("document", String()),))


async def by_ids(session: AsyncSession, client_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(name, document) of these clients."""
    ids = sorted(set(client_ids))
    if not ids:
        return {}
    condition, params = _among(session, ids)
    rows = await session.execute(
        select(Client.id, Client.name, Client.document).where(condition), params
    )
    return {id_: (name, document) for id_, name, document in rows}


async def ids_by_documents(session: AsyncSession, documents: Iterable[str]) -> dict[str, int]:
    """The client id of each of these documents that is taken."""
    wanted = sorted(set(documents))
    if not wanted:
        return {}
    dialect = session.get_bind().dialect.name
    table = _DOCUMENTS.table(dialect)
    rows = await session.execute(
        select(Client.document, Client.id).where(Client.document.in_(select(table.c.document))),
        _DOCUMENTS.params(dialect, [(document,) for document in wanted]),
    )
    return {row[0]: row[1] for row in rows}


async def add_with_ids(session: AsyncSession, rows: Sequence[tuple[int, str, str]]) -> None:
    """Insert clients with the ids they had elsewhere, in one statement, then move the id
    sequence past the largest id (PostgreSQL; SQLite takes max(id) + 1 by itself)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    table = cast(Table, Client.__table__)
    new = _ADOPTED.table(dialect)
    connection = await session.connection()
    await connection.execute(
        insert(table).from_select(
            ["id", "name", "document"], select(new.c.id, new.c.name, new.c.document)
        ),
        _ADOPTED.params(dialect, rows),
    )
    if dialect == "postgresql":
        # Never backwards: ids handed out before (and since deleted) are not given again.
        await connection.execute(
            text(
                "SELECT setval(s.seq, GREATEST((SELECT max(id) FROM clients), "
                "COALESCE(pg_sequence_last_value(s.seq), 1))) "
                "FROM (SELECT pg_get_serial_sequence('clients', 'id')::regclass AS seq) AS s"
            )
        )
