"""Two admins removing each other at the same moment: one wins, one gets 409, one admin stays.

These requests commit for real, so the test builds its own database (the shared one may hold
other admins, which would make the rule moot) and app.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energy_api.auth.models import Role, User
from energy_api.cli import migrate
from energy_api.main import create_app
from tests.conftest import access_token, add_user, make_settings

ROUNDS = 8


@dataclass
class TwoAdmins:
    http: AsyncClient
    sessionmaker: async_sessionmaker[AsyncSession]
    first: User
    second: User
    headers: dict[int, dict[str, str]]


@pytest.fixture
async def two_admins(empty_database_url: str, password_hash: str) -> AsyncIterator[TwoAdmins]:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (row locks; SQLite serialises its writers whole)")
    settings = make_settings(empty_database_url)
    await asyncio.to_thread(migrate, settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
        async with sessionmaker() as session, session.begin():
            first = await add_user(session, password_hash, username="ana", role=Role.admin)
            second = await add_user(session, password_hash, username="bruno", role=Role.admin)
        headers = {
            user.id: {"Authorization": f"Bearer {access_token(settings, user)}"}
            for user in (first, second)
        }
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
            yield TwoAdmins(http, sessionmaker, first, second, headers)


async def active_admins(setup: TwoAdmins) -> int:
    async with setup.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.admin.value, User.is_active)
        )
    return int(count or 0)


async def restore(setup: TwoAdmins) -> None:
    async with setup.sessionmaker() as session, session.begin():
        await session.execute(update(User).values(role=Role.admin.value, is_active=True))


@pytest.mark.parametrize(
    "body", [{"role": "editor"}, {"ativo": False}], ids=["demote", "deactivate"]
)
async def test_admins_removing_each_other_at_once_leave_one_admin(
    two_admins: TwoAdmins, body: dict[str, object]
) -> None:
    first, second = two_admins.first, two_admins.second
    for _ in range(ROUNDS):
        statuses = await asyncio.gather(
            two_admins.http.patch(
                f"/api/v1/usuarios/{second.id}/", json=body, headers=two_admins.headers[first.id]
            ),
            two_admins.http.patch(
                f"/api/v1/usuarios/{first.id}/", json=body, headers=two_admins.headers[second.id]
            ),
        )
        # The loser is refused by the rule (409), or, if the winner's change reached it first,
        # by its own lost rights (401 deactivated, 403 demoted): never a second success.
        codes = Counter(response.status_code for response in statuses)
        assert codes[200] == 1, [r.text for r in statuses]
        assert await active_admins(two_admins) == 1
        await restore(two_admins)


async def test_admins_deleting_each_other_at_once_leave_one_admin(two_admins: TwoAdmins) -> None:
    first, second = two_admins.first, two_admins.second
    statuses = await asyncio.gather(
        two_admins.http.delete(
            f"/api/v1/usuarios/{second.id}/", headers=two_admins.headers[first.id]
        ),
        two_admins.http.delete(
            f"/api/v1/usuarios/{first.id}/", headers=two_admins.headers[second.id]
        ),
    )
    assert sorted(response.status_code for response in statuses)[0] == 204
    assert Counter(response.status_code for response in statuses)[204] == 1
    assert await active_admins(two_admins) == 1
