"""Expired refresh tokens and old failed logins are deleted (on use, and by the CLI)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api import cli
from energy_api.auth import repository, service
from energy_api.auth.models import LoginAttempt, RefreshToken, Role
from tests.auth.conftest import Clock
from tests.auth.helpers import login, utc
from tests.conftest import TEST_SECRET

MakeUser = Callable[..., Any]


async def test_prune_deletes_expired_tokens_and_attempts_outside_the_window(
    db_session: AsyncSession, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    for jti, age in (("1" * 32, timedelta(days=2)), ("2" * 32, timedelta(seconds=-60))):
        await repository.add_refresh_token(
            db_session, jti=jti, user_id=user.id, family_id=jti, expires_at=clock.now - age
        )
    for minutes in (16, 14):
        await repository.add_failed_login(
            db_session,
            username="x",
            address="203.0.113.1",
            at=clock.now - timedelta(minutes=minutes),
        )
    assert await service.prune(db_session) == (1, 1)
    assert list(await db_session.scalars(select(RefreshToken.jti))) == ["2" * 32]
    ages = [clock.now - utc(at) for at in await db_session.scalars(select(LoginAttempt.at))]
    assert [round(age.total_seconds()) for age in ages] == [14 * 60]


async def test_a_failed_login_deletes_old_attempts_of_its_username_and_address(
    client: AsyncClient, db_session: AsyncSession, clock: Clock
) -> None:
    old = clock.now - timedelta(minutes=20)
    for username, address in (("alvo", "198.51.100.1"), ("outro", "127.0.0.1"), ("outro", "x")):
        await repository.add_failed_login(db_session, username=username, address=address, at=old)
    await login(client, "alvo", "wrong")
    rows = await db_session.execute(select(LoginAttempt.username, LoginAttempt.address))
    assert sorted(tuple(row) for row in rows) == [("alvo", "127.0.0.1"), ("outro", "x")]


@pytest.fixture
def cli_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], list[tuple[Any, ...]]]:
    """A migrated SQLite file the `energy-api` command is pointed at; returns a query helper."""
    path = tmp_path / "cli.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    assert cli.main(["migrate"]) == 0

    def query(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as connection:
            rows = connection.execute(sql).fetchall()
        connection.close()
        return rows

    return query


def test_prune_tokens_command_deletes_and_reports(
    cli_database: Callable[[str], list[tuple[Any, ...]]], capsys: pytest.CaptureFixture[str]
) -> None:
    cli_database(
        "INSERT INTO users (id, username, password_hash, role) VALUES (1, 'u', 'h', 'viewer')"
    )
    cli_database(
        "INSERT INTO refresh_tokens (jti, user_id, family_id, expires_at) "
        "VALUES ('old', 1, 'f', '2020-01-01 00:00:00.000000')"
    )
    cli_database(
        "INSERT INTO login_attempts (username, address, at) "
        "VALUES ('u', '127.0.0.1', '2020-01-01 00:00:00.000000')"
    )
    capsys.readouterr()
    assert cli.main(["prune-tokens"]) == 0
    assert (
        capsys.readouterr().out == "deleted 1 expired refresh token(s) and 1 old failed login(s)\n"
    )
    assert cli_database("SELECT count(*) FROM refresh_tokens") == [(0,)]
    assert cli_database("SELECT count(*) FROM login_attempts") == [(0,)]


def test_set_active_no_command_revokes_the_users_refresh_tokens(
    cli_database: Callable[[str], list[tuple[Any, ...]]],
) -> None:
    cli_database(
        "INSERT INTO users (id, username, password_hash, role) VALUES (1, 'u', 'h', 'viewer')"
    )
    cli_database(
        "INSERT INTO refresh_tokens (jti, user_id, family_id, expires_at) "
        "VALUES ('live', 1, 'f', '2999-01-01 00:00:00.000000')"
    )
    assert cli.main(["set-active", "u", "--no"]) == 0
    assert cli_database("SELECT is_active FROM users") == [(0,)]
    assert cli_database("SELECT revoked_at IS NOT NULL FROM refresh_tokens") == [(1,)]
