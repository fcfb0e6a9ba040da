from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import User
from energy_api.db import violated_constraint

USERNAME_UNIQUE = "uq_users_username"


class DuplicateUsername(Exception):
    pass


async def get_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_by_username(session: AsyncSession, username: str) -> User | None:
    result = await session.execute(select(User).where(User.username == username))
    return result.scalar_one_or_none()


async def exists_any(session: AsyncSession) -> bool:
    result = await session.execute(select(User.id).limit(1))
    return result.first() is not None


async def add(session: AsyncSession, *, username: str, password_hash: str, role: str) -> User:
    user = User(username=username, password_hash=password_hash, role=role, is_active=True)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc) == USERNAME_UNIQUE:
            raise DuplicateUsername(username) from exc
        raise
    return user


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )


async def set_active(session: AsyncSession, username: str, *, active: bool) -> bool:
    result = await session.execute(
        update(User).where(User.username == username).values(is_active=active).returning(User.id)
    )
    return result.first() is not None
