"""Every SQL statement about stored idempotent responses."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.db import flush
from energy_api.idempotency.models import IdempotencyKey

KEY_UNIQUE = "uq_idempotency_keys_user_id_key"
PRUNE_BATCH = 500


class DuplicateKey(Exception):
    """Another transaction stored a response for the same user and key first."""


def _lock_id(user_id: int, key: str) -> int:
    """A signed 64-bit advisory lock id for (user, key), the same in every process."""
    digest = hashlib.sha256(f"idempotency:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def try_lock(session: AsyncSession, user_id: int, key: str) -> bool:
    """Take the (user, key) lock until the transaction ends; False when another request has it.

    PostgreSQL only (an advisory transaction lock). SQLite serialises writers on its own: a
    concurrent second request waits, then finds the stored response or meets the unique
    constraint.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    locked = await session.scalar(select(func.pg_try_advisory_xact_lock(_lock_id(user_id, key))))
    return bool(locked)


async def get(
    session: AsyncSession, user_id: int, key: str, *, since: datetime
) -> IdempotencyKey | None:
    """The stored response for (user, key), if it is younger than `since`.

    An expired row for the same key is deleted, so the key can be used again.
    """
    found = await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    if found is not None and found.created_at < since:
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == found.id))
        return None
    return found


async def add(
    session: AsyncSession,
    *,
    user_id: int,
    key: str,
    request_hash: str,
    status_code: int,
    response_body: str,
) -> None:
    session.add(
        IdempotencyKey(
            user_id=user_id,
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            response_body=response_body,
        )
    )
    await flush(session, {KEY_UNIQUE: DuplicateKey})


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Delete up to PRUNE_BATCH rows older than `before`; how many went."""
    expired = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.created_at < before)
        .order_by(IdempotencyKey.id)
        .limit(PRUNE_BATCH)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Rows another transaction is pruning are skipped, not waited for.
        expired = expired.with_for_update(skip_locked=True)
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id.in_(expired.scalar_subquery()))
        .returning(IdempotencyKey.id)
    )
    return len(result.all())
