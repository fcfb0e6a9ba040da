"""`energy-api import-django`: the dry-run report, all or nothing, --skip-rejected, a second
run, against a new target database (PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from energy_api.cli import migrate
from energy_api.config import Settings
from tests.conftest import DEFAULT_PG_URL, ROOT, TEST_SECRET, make_settings
from tests.data import django_source as dj

EXECUTABLE = Path(sys.executable).with_name("energy-api")


def energy_api(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in {name.upper() for name in Settings.model_fields}
    }
    environment.update(DATABASE_URL=target, ENVIRONMENT="test", SECRET_KEY=TEST_SECRET)
    return subprocess.run(
        [str(EXECUTABLE), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture
async def target(postgres_only: None) -> AsyncIterator[str]:
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)
    name = f"energy_import_{uuid.uuid4().hex[:12]}"
    admin_dsn = make_url(base).set(drivername="postgresql", database="postgres")
    admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(migrate, make_settings(url))
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def count(target: str, table: str) -> int:
    dsn = make_url(target).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        value: int = await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
        return value
    finally:
        await connection.close()


async def test_dry_run_prints_every_rejected_row_and_writes_nothing(target: str) -> None:
    async with dj.django_database() as source:
        result = await asyncio.to_thread(
            energy_api, target, "import-django", "--source", source, "--dry-run"
        )
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "auth_user: 6 read, 3 imported, 0 already here, 3 rejected" in out
    assert "users_cliente: 7 read, 3 imported, 0 already here, 4 rejected" in out
    assert "consumption_consumo: 14 read, 6 imported, 0 already here, 8 rejected" in out
    for consumption_id in dj.REJECTED_CONSUMPTIONS:
        assert f"consumption_consumo id {consumption_id}: " in out
    assert "dry run: nothing was written" in out
    assert await count(target, "clients") == 0
    assert await count(target, "users") == 0


async def test_a_run_with_rejections_writes_nothing_unless_told_to_skip_them(target: str) -> None:
    async with dj.django_database() as source:
        refused = await asyncio.to_thread(energy_api, target, "import-django", "--source", source)
        assert refused.returncode == 1
        assert "nothing was written" in refused.stdout
        assert await count(target, "consumptions") == 0

        written = await asyncio.to_thread(
            energy_api, target, "import-django", "--source", source, "--skip-rejected"
        )
        assert "imported 12 rows" in written.stdout, written.stdout + written.stderr
        assert await count(target, "consumptions") == 6
        assert await count(target, "clients") == 3

        again = await asyncio.to_thread(
            energy_api, target, "import-django", "--source", source, "--skip-rejected"
        )
        assert "nothing new to import" in again.stdout
        assert (
            "consumption_consumo: 14 read, 0 imported, 6 already here, 8 rejected" in again.stdout
        )
        assert await count(target, "consumptions") == 6

    verify = await asyncio.to_thread(energy_api, target, "summaries", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
