"""Revision 20261129_0002 (refresh tokens, failed logins) upgrades, downgrades and matches
the models, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import make_url

from energy_api.cli import alembic_config
from energy_api.db import Base, create_engine
from energy_api.models import load_all_models
from tests.conftest import DEFAULT_PG_URL, make_settings

TOKEN_TABLES = {"refresh_tokens", "login_attempts"}
EXPECTED_INDEXES = {
    "refresh_tokens": {
        ("ix_refresh_tokens_family_id", ("family_id",)),
        ("ix_refresh_tokens_expires_at", ("expires_at",)),
        ("ix_refresh_tokens_user_id_expires_at", ("user_id", "expires_at")),
    },
    "login_attempts": {
        ("ix_login_attempts_username_at", ("username", "at")),
        ("ix_login_attempts_address_at", ("address", "at")),
    },
}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)
    name = f"energy_migrations_{uuid.uuid4().hex[:12]}"
    admin = make_url(base).set(drivername="postgresql", database="postgres")
    admin_dsn = admin.render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _config(url: str) -> Config:
    config = alembic_config(make_settings(url))
    assert isinstance(config, Config)
    config.attributes["configure_logger"] = False
    return config


def _inspect(url: str, look: Any) -> Any:
    async def run() -> Any:
        engine = create_engine(url, make_settings(url), for_migrations=True)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(look)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _indexes(connection: Connection) -> dict[str, set[tuple[str, tuple[str, ...]]]]:
    inspector = inspect(connection)
    return {
        table: {
            (str(index["name"]), tuple(str(c) for c in index["column_names"]))
            for index in inspector.get_indexes(table)
        }
        for table in TOKEN_TABLES
    }


def _drift(connection: Connection) -> list[Any]:
    load_all_models()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    diffs = compare_metadata(context, Base.metadata)
    return [diff for diff in diffs if any(table in repr(diff) for table in TOKEN_TABLES)]


def test_upgrade_creates_the_token_tables_with_their_indexes(empty_database: str) -> None:
    command.upgrade(_config(empty_database), "20261129_0002")
    assert _inspect(empty_database, _tables) >= TOKEN_TABLES
    assert _inspect(empty_database, _indexes) == EXPECTED_INDEXES


def test_migrated_token_tables_match_the_models(empty_database: str) -> None:
    command.upgrade(_config(empty_database), "head")
    assert _inspect(empty_database, _drift) == []


def test_downgrade_drops_only_the_token_tables_and_upgrade_runs_again(
    empty_database: str,
) -> None:
    config = _config(empty_database)
    command.upgrade(config, "20261129_0002")
    command.downgrade(config, "20261129_0001")
    assert _inspect(empty_database, _tables) == {
        "alembic_version",
        "users",
        "clients",
        "consumptions",
    }
    command.upgrade(config, "head")
    assert _inspect(empty_database, _tables) >= TOKEN_TABLES
