"""The `energy-api` command, run as a subprocess against a temporary SQLite file."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from energy_api.config import Settings
from energy_api.security import pwd_context
from tests.conftest import ROOT, TEST_SECRET

EXECUTABLE = Path(sys.executable).with_name("energy-api")
PASSWORD = "a long enough password 2"


def run(
    database: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in {name.upper() for name in Settings.model_fields}
    }
    environment.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        ENVIRONMENT="test",
        SECRET_KEY=TEST_SECRET,
        **env,
    )
    return subprocess.run(
        [str(EXECUTABLE), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=60,
        check=False,
    )


def query(database: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated by `energy-api migrate`; each test works on a copy."""
    database = tmp_path_factory.mktemp("cli") / "template.db"
    result = run(database, "migrate")
    assert result.returncode == 0, result.stderr
    return database


@pytest.fixture
def database(migrated_template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "energy.db"
    shutil.copyfile(migrated_template, copy)
    return copy


def test_migrate_builds_the_schema(migrated_template: Path) -> None:
    tables = {row[0] for row in query(migrated_template, "SELECT name FROM sqlite_master")}
    assert {"users", "clients", "consumptions", "alembic_version"} <= tables


def test_create_user_reads_the_password_from_stdin(database: Path) -> None:
    result = run(database, "create-user", "maria", "--role", "editor", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    [(role, is_active, password_hash)] = query(
        database, "SELECT role, is_active, password_hash FROM users WHERE username = 'maria'"
    )
    assert (role, is_active) == ("editor", 1)
    assert pwd_context.verify(PASSWORD, password_hash)


def test_create_user_refuses_an_existing_username(database: Path) -> None:
    first = run(database, "create-user", "maria", stdin=PASSWORD)
    assert first.returncode == 0, first.stderr
    second = run(database, "create-user", "maria", "--role", "admin", stdin=PASSWORD)
    assert second.returncode != 0
    assert "maria" in second.stderr and "exists" in second.stderr
    assert query(database, "SELECT role FROM users") == [("viewer",)]


def test_create_user_refuses_a_short_password(database: Path) -> None:
    result = run(database, "create-user", "maria", stdin="short\n")
    assert result.returncode != 0
    assert "password" in result.stderr
    assert query(database, "SELECT count(*) FROM users") == [(0,)]


def test_ensure_admin_creates_admin_once_and_prints_the_password_once(database: Path) -> None:
    first = run(database, "ensure-admin")
    assert first.returncode == 0, first.stderr
    match = re.search(r"password: (\S+)", first.stdout)
    assert match is not None, first.stdout
    [(role, password_hash)] = query(
        database, "SELECT role, password_hash FROM users WHERE username = 'admin'"
    )
    assert role == "admin"
    assert pwd_context.verify(match.group(1), password_hash)

    second = run(database, "ensure-admin")
    assert (second.returncode, second.stdout) == (0, "")
    assert query(database, "SELECT count(*) FROM users") == [(1,)]


def test_set_active_no_deactivates_the_user(database: Path) -> None:
    created = run(database, "create-user", "maria", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    result = run(database, "set-active", "maria", "--no")
    assert result.returncode == 0, result.stderr
    assert query(database, "SELECT is_active FROM users WHERE username = 'maria'") == [(0,)]


def test_seed_demo_creates_clients_with_24_months_each_and_is_idempotent(database: Path) -> None:
    count_months = "SELECT client_id, count(*) FROM consumptions GROUP BY client_id"
    first = run(database, "seed-demo")
    assert first.returncode == 0, first.stderr
    clients = query(database, "SELECT count(*) FROM clients")[0][0]
    assert isinstance(clients, int) and clients >= 3
    months = query(database, count_months)
    assert [count for _, count in months] == [24] * clients

    second = run(database, "seed-demo")
    assert second.returncode == 0, second.stderr
    assert query(database, "SELECT count(*) FROM clients") == [(clients,)]
    assert query(database, count_months) == months


def test_bad_configuration_exits_2_with_one_line_naming_the_variable(database: Path) -> None:
    result = run(database, "migrate", ACCESS_TOKEN_MINUTES="abc")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ACCESS_TOKEN_MINUTES" in lines[0]
