"""Refresh rotation kept server-side: families, retirement, expiry rows and their clean-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth import repository
from energy_api.auth.models import RefreshToken, Role, User
from tests.auth.conftest import Clock
from tests.auth.helpers import BAD_TOKEN_BODY, login_pair, me, refresh, unverified_claims, utc

MakeUser = Callable[..., Any]


async def _row(session: AsyncSession, token: str) -> RefreshToken:
    row = await session.get(RefreshToken, unverified_claims(token)["jti"], populate_existing=True)
    assert row is not None
    return row


async def test_login_records_its_refresh_token_with_the_expiry_of_the_token(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    row = await _row(db_session, pair["refresh"])
    assert row.user_id == user.id
    assert utc(row.expires_at) == clock.now + timedelta(days=1)
    assert (row.used_at, row.revoked_at) == (None, None)


async def test_each_login_starts_a_new_family(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    first = await login_pair(client, user.username)
    second = await login_pair(client, user.username)
    assert (await _row(db_session, first["refresh"])).family_id != (
        await _row(db_session, second["refresh"])
    ).family_id


async def test_refresh_issues_the_next_token_of_the_same_family(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    renewed = (await refresh(client, pair["refresh"])).json()
    old, new = await _row(db_session, pair["refresh"]), await _row(db_session, renewed["refresh"])
    assert new.family_id == old.family_id
    assert new.jti != old.jti


async def test_refresh_retires_the_presented_token(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    clock.advance(minutes=10)
    await refresh(client, pair["refresh"])
    retired = await _row(db_session, pair["refresh"])
    assert retired.used_at is not None
    assert utc(retired.used_at) == clock.now


async def test_a_refresh_token_works_only_once(client: AsyncClient, users: MakeUser) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    assert (await refresh(client, pair["refresh"])).status_code == 200
    response = await refresh(client, pair["refresh"])
    assert response.status_code == 401
    assert response.json() == BAD_TOKEN_BODY


async def test_rotation_can_go_on_token_after_token(client: AsyncClient, users: MakeUser) -> None:
    user = await users(Role.viewer)
    token = (await login_pair(client, user.username))["refresh"]
    for _ in range(3):
        response = await refresh(client, token)
        assert response.status_code == 200, response.text
        token = response.json()["refresh"]
    assert (await me(client, response.json()["access"])).status_code == 200


async def test_reuse_of_a_retired_token_leaves_other_logins_alone(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    stolen = await login_pair(client, user.username)
    other_device = await login_pair(client, user.username)
    await refresh(client, stolen["refresh"])
    assert (await refresh(client, stolen["refresh"])).status_code == 401
    assert (await refresh(client, other_device["refresh"])).status_code == 200


async def test_refresh_token_whose_row_is_gone_is_401(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    await db_session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))
    response = await refresh(client, pair["refresh"])
    assert response.status_code == 401


async def test_issuing_tokens_deletes_the_users_expired_rows_only(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser, clock: Clock
) -> None:
    user, neighbour = await users(Role.viewer), await users(Role.viewer)
    long_ago = clock.now - timedelta(days=3)
    for owner, jti in ((user, "a" * 32), (neighbour, "b" * 32)):
        await repository.add_refresh_token(
            db_session, jti=jti, user_id=owner.id, family_id=jti, expires_at=long_ago
        )
    await login_pair(client, user.username)
    remaining = set(await db_session.scalars(select(RefreshToken.jti)))
    assert "a" * 32 not in remaining
    assert "b" * 32 in remaining


async def test_rows_expired_within_the_leeway_are_kept(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await repository.add_refresh_token(
        db_session,
        jti="c" * 32,
        user_id=user.id,
        family_id="c" * 32,
        expires_at=clock.now - timedelta(seconds=20),
    )
    await login_pair(client, user.username)
    assert await db_session.get(RefreshToken, "c" * 32) is not None


async def test_deleting_a_user_deletes_its_refresh_tokens(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    await login_pair(client, user.username)
    await db_session.execute(delete(User).where(User.id == user.id))
    rows = await db_session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id))
    assert rows.all() == []
