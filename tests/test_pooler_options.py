"""What DATABASE_POOLER, DATABASE_DIRECT_URL and the URL's options change in the connections."""

from __future__ import annotations

import asyncio

import pytest

from energy_api.auth.principals import PrincipalCache, UserChangeListener
from energy_api.db import asyncpg_dsn
from energy_api.db.engine import postgres_connect_args
from energy_api.main import listener_dsn
from tests.conftest import make_settings

PG = "postgresql+asyncpg://u:p@db.example:5432/energy"


def test_asyncpg_dsn_drops_sqlalchemy_only_options_and_keeps_the_rest() -> None:
    dsn = asyncpg_dsn(
        PG + "?prepared_statement_cache_size=0&sslmode=require&prepared_statement_name_func=x"
    )
    assert dsn == "postgresql://u:p@db.example:5432/energy?sslmode=require"


@pytest.mark.usefixtures("postgres_only")
async def test_the_listener_connects_with_sqlalchemy_options_in_the_url(database_url: str) -> None:
    """asyncpg would send the option to the server as a setting, which the server refuses."""
    cache = PrincipalCache()
    listener = UserChangeListener(
        asyncpg_dsn(database_url + "?prepared_statement_cache_size=0"), cache, connect_timeout=3
    )
    await listener.start()
    try:
        async with asyncio.timeout(5):
            await listener.wait_connected()
        assert cache.enabled
    finally:
        await listener.stop()


def test_the_listener_uses_the_direct_url_when_there_is_one() -> None:
    direct = "postgresql+asyncpg://u:p@primary:5432/energy"
    pooled = make_settings(PG, database_pooler="transaction", database_direct_url=direct)
    assert listener_dsn(pooled) == "postgresql://u:p@primary:5432/energy"
    assert listener_dsn(make_settings(PG)) == "postgresql://u:p@db.example:5432/energy"


def test_behind_a_pooler_without_a_direct_url_there_is_no_listener() -> None:
    assert listener_dsn(make_settings(PG, database_pooler="transaction")) is None


def test_behind_a_pooler_nothing_is_sent_at_start_up_and_nothing_is_prepared_by_name() -> None:
    options = postgres_connect_args(make_settings(PG, database_pooler="transaction"), 5000)
    assert options["server_settings"] == {"application_name": "energy-api"}
    assert options["statement_cache_size"] == 0
    assert options["prepared_statement_cache_size"] == 0
    assert options["prepared_statement_name_func"]() == ""


def test_without_a_pooler_the_timeout_is_a_connection_setting() -> None:
    options = postgres_connect_args(make_settings(PG), 5000)
    assert options["server_settings"]["statement_timeout"] == "5000"
    assert "statement_cache_size" not in options
