from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Result,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import LoginAttempt, RefreshToken, Role, User
from energy_api.auth.principals import Principal
from energy_api.db import Reader, flush
from energy_api.db.functions import unicode_ilike

USERNAME_UNIQUE = "uq_users_username"

# Bulk statements below touch rows the session never loaded: nothing to synchronise.
_BULK = {"synchronize_session": False}


class DuplicateUsername(Exception):
    pass


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


async def get_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


_ACTIVE_PRINCIPAL = select(User.id, User.username, User.role, User.token_version).where(
    User.id == bindparam("user_id"), User.is_active
)


async def get_active_principal(reader: Reader, user_id: int) -> Principal | None:
    """The user's id, name and role if the user exists and is active (no ORM object)."""
    row = await reader.first(_ACTIVE_PRINCIPAL, {"user_id": user_id})
    if row is None:
        return None
    return Principal(
        id=row["id"],
        username=row["username"],
        role=Role(row["role"]),
        token_version=row["token_version"],
    )


async def get_by_username(session: AsyncSession, username: str) -> User | None:
    result = await session.execute(select(User).where(User.username == username))
    return result.scalar_one_or_none()


async def exists_any(session: AsyncSession) -> bool:
    result = await session.execute(select(User.id).limit(1))
    return result.first() is not None


async def add(
    session: AsyncSession, *, username: str, password_hash: str, role: str, active: bool = True
) -> User:
    user = User(username=username, password_hash=password_hash, role=role, is_active=active)
    session.add(user)
    await flush(session, {USERNAME_UNIQUE: lambda: DuplicateUsername(username)})
    return user


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )


async def set_active(session: AsyncSession, username: str, *, active: bool) -> int | None:
    """The user's id, or None when there is no such user."""
    result = await session.execute(
        update(User).where(User.username == username).values(is_active=active).returning(User.id)
    )
    return result.scalar_one_or_none()


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_page(
    session: AsyncSession,
    *,
    search: str | None,
    role: Role | None,
    active: bool | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[User], int]:
    """Users in id order, filtered by a username substring (case-insensitive), role and state."""
    conditions: list[ColumnElement[bool]] = []
    if search:
        conditions.append(unicode_ilike(User.username, _like_pattern(search)))
    if role is not None:
        conditions.append(User.role == role.value)
    if active is not None:
        conditions.append(User.is_active.is_(active))
    rows = select(User).where(*conditions).order_by(User.id).limit(limit).offset(offset)
    count = select(func.count()).select_from(User).where(*conditions)
    items = (await session.scalars(rows)).all()
    total = await session.scalar(count)
    return items, int(total or 0)


async def get_locked(session: AsyncSession, user_id: int) -> User | None:
    """The user, locked FOR UPDATE until the transaction ends (read afresh)."""
    return await session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_active_admins(session: AsyncSession) -> list[int]:
    """Lock every active admin's row, ascending id; their ids.

    A writer blocked here re-reads each row once the lock is free (PostgreSQL re-checks the
    WHERE clause on the new version), so a row demoted meanwhile is no longer counted. SQLite's
    writing transactions exclude each other whole."""
    statement = (
        select(User.id)
        .where(User.role == Role.admin.value, User.is_active)
        .order_by(User.id)
        .with_for_update()
    )
    return list((await session.scalars(statement)).all())


async def update_fields(
    session: AsyncSession,
    user: User,
    *,
    role: Role | None = None,
    active: bool | None = None,
    password_hash: str | None = None,
    bump_version: bool = False,
) -> User:
    """Set the given fields (None: unchanged) of a user the caller has locked."""
    if role is not None:
        user.role = role.value
    if active is not None:
        user.is_active = active
    if password_hash is not None:
        user.password_hash = password_hash
    if bump_version:
        user.token_version += 1
    await session.flush()
    return user


async def delete_by_id(session: AsyncSession, user_id: int) -> bool:
    """Delete a user; its refresh tokens go with it (ON DELETE CASCADE)."""
    result = await session.execute(delete(User).where(User.id == user_id).returning(User.id))
    return result.first() is not None


# Refresh tokens


async def add_refresh_token(
    session: AsyncSession, *, jti: str, user_id: int, family_id: str, expires_at: datetime
) -> None:
    await session.execute(
        insert(RefreshToken).values(
            jti=jti, user_id=user_id, family_id=family_id, expires_at=expires_at
        )
    )


async def retire_refresh_token(
    session: AsyncSession, jti: str, now: datetime
) -> tuple[int, str] | None:
    """Mark a live token used; (user_id, family_id), or None when it is unknown, already used
    or revoked. One conditional UPDATE, so of two concurrent uses only one succeeds."""
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.jti == jti,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
        .returning(RefreshToken.user_id, RefreshToken.family_id)
        .execution_options(**_BULK)
    )
    row = result.first()
    return (row.user_id, row.family_id) if row is not None else None


async def revoke_family_of(session: AsyncSession, jti: str, now: datetime) -> int:
    """Revoke every live token of the family `jti` belongs to; how many were revoked."""
    family = select(RefreshToken.family_id).where(RefreshToken.jti == jti).scalar_subquery()
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(**_BULK)
    )
    return _rowcount(result)


async def revoke_user_refresh_tokens(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(**_BULK)
    )


async def delete_expired_refresh_tokens(
    session: AsyncSession, before: datetime, *, user_id: int | None = None
) -> int:
    statement = delete(RefreshToken).where(RefreshToken.expires_at < before)
    if user_id is not None:
        statement = statement.where(RefreshToken.user_id == user_id)
    return _rowcount(await session.execute(statement.execution_options(**_BULK)))


# Failed logins


async def add_failed_login(
    session: AsyncSession, *, username: str, address: str, at: datetime
) -> None:
    await session.execute(insert(LoginAttempt).values(username=username, address=address, at=at))


async def failed_logins_since(
    session: AsyncSession,
    since: datetime,
    *,
    username: str | None = None,
    address: str | None = None,
) -> tuple[int, datetime | None]:
    """(count, oldest time) of failed logins after `since` for a username or address."""
    statement = select(func.count(), func.min(LoginAttempt.at)).where(LoginAttempt.at > since)
    if username is not None:
        statement = statement.where(LoginAttempt.username == username)
    if address is not None:
        statement = statement.where(LoginAttempt.address == address)
    count, oldest = (await session.execute(statement)).one()
    return int(count), oldest


async def delete_failed_logins(session: AsyncSession, username: str) -> None:
    await session.execute(
        delete(LoginAttempt).where(LoginAttempt.username == username).execution_options(**_BULK)
    )


async def delete_failed_logins_before(
    session: AsyncSession,
    before: datetime,
    *,
    username: str | None = None,
    address: str | None = None,
) -> int:
    """Delete attempts older than `before`, only those of `username` or `address` when given."""
    statement = delete(LoginAttempt).where(LoginAttempt.at < before)
    owners = []
    if username is not None:
        owners.append(LoginAttempt.username == username)
    if address is not None:
        owners.append(LoginAttempt.address == address)
    if owners:
        statement = statement.where(or_(*owners))
    return _rowcount(await session.execute(statement.execution_options(**_BULK)))
