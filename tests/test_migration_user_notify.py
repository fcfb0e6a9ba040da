"""Revision 20261129_0007: on PostgreSQL a trigger on users (and its function) that NOTIFYs
every update or delete, removed again by its downgrade; on SQLite, nothing.

Each test gets a fresh, empty database (not the session's), as in test_migrations.py. What the
trigger sends is tested in tests/auth/test_user_change_notify.py.
"""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url

from energy_api.cli import alembic_config, migrate
from energy_api.db import create_engine
from tests.conftest import make_settings

REVISION = "20261129_0007"
PREVIOUS = "20261129_0005"
TRIGGER = "tr_users_notify_changed"
FUNCTION = "notify_user_changed"

PG_TRIGGERS = """
SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relname = 'users' AND NOT t.tgisinternal
"""
PG_FUNCTIONS = "SELECT proname FROM pg_proc WHERE proname = :name"
SQLITE_TRIGGERS = "SELECT name FROM sqlite_master WHERE type = 'trigger'"


async def upgrade(url: str, revision: str = "head") -> None:
    # Alembic's env.py runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(migrate, make_settings(url), revision)


async def downgrade(url: str, revision: str) -> None:
    config = alembic_config(make_settings(url))
    assert isinstance(config, Config)
    await asyncio.to_thread(command.downgrade, config, revision)


async def triggers_and_functions(url: str) -> tuple[set[str], set[str]]:
    """The user triggers, and whether the notify function exists, in the database at `url`."""
    engine = create_engine(url, make_settings(url))
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                return set((await connection.scalars(text(SQLITE_TRIGGERS))).all()), set()
            triggers = set((await connection.scalars(text(PG_TRIGGERS))).all())
            functions = await connection.scalars(text(PG_FUNCTIONS), {"name": FUNCTION})
            return triggers, set(functions.all())
    finally:
        await engine.dispose()


def upgraded(url: str) -> tuple[set[str], set[str]]:
    if make_url(url).get_backend_name() == "sqlite":
        return set(), set()  # no NOTIFY: nothing to add
    return {TRIGGER}, {FUNCTION}


async def test_upgrade_adds_the_notify_trigger_on_postgresql_only(
    empty_database_url: str,
) -> None:
    await upgrade(empty_database_url, PREVIOUS)
    assert await triggers_and_functions(empty_database_url) == (set(), set())
    await upgrade(empty_database_url, REVISION)
    assert await triggers_and_functions(empty_database_url) == upgraded(empty_database_url)


async def test_downgrade_removes_the_trigger_and_its_function(empty_database_url: str) -> None:
    await upgrade(empty_database_url, REVISION)
    await downgrade(empty_database_url, PREVIOUS)
    assert await triggers_and_functions(empty_database_url) == (set(), set())
    await upgrade(empty_database_url, REVISION)
    assert await triggers_and_functions(empty_database_url) == upgraded(empty_database_url)
