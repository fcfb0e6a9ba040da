"""Deactivating a user (`energy-api set-active USERNAME --no`) ends its tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth import service
from energy_api.auth.models import Role
from tests.auth.helpers import BAD_TOKEN_BODY, login_pair, me, refresh

MakeUser = Callable[..., Any]


async def test_set_active_reports_an_unknown_user(db_session: AsyncSession) -> None:
    assert await service.set_active(db_session, "no-such-user", active=False) is False


async def test_deactivated_users_access_token_fails_on_next_use(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser
) -> None:
    user = await users(Role.admin)
    pair = await login_pair(client, user.username)
    assert await service.set_active(db_session, user.username, active=False)
    response = await me(client, pair["access"])
    assert response.status_code == 401
    assert response.json() == BAD_TOKEN_BODY


async def test_deactivated_users_refresh_token_fails_on_next_use(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser
) -> None:
    user = await users(Role.admin)
    pair = await login_pair(client, user.username)
    await service.set_active(db_session, user.username, active=False)
    response = await refresh(client, pair["refresh"])
    assert response.status_code == 401
    assert response.json() == BAD_TOKEN_BODY


async def test_reactivation_does_not_bring_old_logins_back(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser
) -> None:
    user = await users(Role.admin)
    pair = await login_pair(client, user.username)
    await service.set_active(db_session, user.username, active=False)
    await service.set_active(db_session, user.username, active=True)
    assert (await refresh(client, pair["refresh"])).status_code == 401
    assert (await login_pair(client, user.username))["access"]


async def test_reactivated_users_unexpired_access_token_works_again(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser
) -> None:
    user = await users(Role.admin)
    pair = await login_pair(client, user.username)
    await service.set_active(db_session, user.username, active=False)
    await service.set_active(db_session, user.username, active=True)
    assert (await me(client, pair["access"])).status_code == 200
