"""The Alembic migrations: upgrade an empty database, downgrade it, and match the models.

Each test gets a fresh, empty database (not the session's), on PostgreSQL and SQLite.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from energy_api.cli import alembic_config, migrate
from energy_api.db import Base, create_engine
from energy_api.models import load_all_models
from tests.conftest import make_settings

TABLES = {
    "users",
    "clients",
    "consumptions",
    "refresh_tokens",
    "login_attempts",
    "idempotency_keys",
    "portfolio_months",
    "portfolio_month_links",
    "client_totals",
    "client_trailing_years",
    "flagged_months",
    "flagged_month_counts",
}


async def upgrade(url: str) -> None:
    # Alembic's env.py runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(migrate, make_settings(url))


async def downgrade(url: str) -> None:
    config = alembic_config(make_settings(url))
    assert isinstance(config, Config)
    await asyncio.to_thread(command.downgrade, config, "base")


async def inspect_database(url: str, look: Any) -> Any:
    engine = create_engine(url, make_settings(url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(look)
    finally:
        await engine.dispose()


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_creates_every_table_in_an_empty_database(empty_database_url: str) -> None:
    assert await inspect_database(empty_database_url, table_names) == set()
    await upgrade(empty_database_url)
    assert await inspect_database(empty_database_url, table_names) == TABLES | {"alembic_version"}


async def test_downgrade_to_base_removes_every_table(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await downgrade(empty_database_url)
    assert await inspect_database(empty_database_url, table_names) == {"alembic_version"}


async def test_upgrade_after_downgrade_works_again(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await downgrade(empty_database_url)
    await upgrade(empty_database_url)
    assert await inspect_database(empty_database_url, table_names) == TABLES | {"alembic_version"}


def schema_differences(connection: Connection) -> list[Any]:
    load_all_models()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences: list[Any] = compare_metadata(context, Base.metadata)
    return differences


async def test_migrated_schema_matches_the_models(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    assert await inspect_database(empty_database_url, schema_differences) == []


def constraint_names(connection: Connection) -> dict[str, set[str | None]]:
    inspector = inspect(connection)
    names: dict[str, set[str | None]] = {}
    for table in sorted(TABLES):
        names[table] = (
            {inspector.get_pk_constraint(table)["name"]}
            | {c["name"] for c in inspector.get_unique_constraints(table)}
            | {c["name"] for c in inspector.get_foreign_keys(table)}
            | {c["name"] for c in inspector.get_check_constraints(table)}
        )
    return names


async def test_constraints_follow_the_naming_convention(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    names = await inspect_database(empty_database_url, constraint_names)
    assert names["consumptions"] == {
        "pk_consumptions",
        "uq_consumptions_client_id_month",
        "fk_consumptions_client_id_clients",
        "ck_consumptions_kwh_non_negative",
    }
    for table, table_names_ in names.items():
        for name in table_names_:
            assert name is not None, f"unnamed constraint on {table}"
            assert re.fullmatch(rf"(pk|uq|fk|ck)_{table}(_\w+)?", name), name
