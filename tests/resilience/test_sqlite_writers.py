"""The embedded SQLite database under concurrent writers: they wait their turn and succeed, or
get a 503 with Retry-After once the busy timeout runs out; never a 500."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from energy_api.auth.models import Role
from energy_api.cli import migrate
from energy_api.db import create_engine, create_sessionmaker
from energy_api.summaries import service as summaries_service
from tests.conftest import access_token, make_settings
from tests.factories import next_cpf
from tests.resilience.conftest import add_committed_user, running_app


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "writers.db"
    migrate(make_settings(f"sqlite+aiosqlite:///{path}"))
    return path


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def editor_headers(path: Path) -> dict[str, str]:
    editor = await add_committed_user(url(path), Role.editor)
    return {"Authorization": f"Bearer {access_token(make_settings(url(path)), editor)}"}


def test_the_database_runs_in_wal_mode(sqlite_file: Path) -> None:
    with sqlite3.connect(sqlite_file) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_simultaneous_posts_with_one_key_write_once_and_never_fail(
    sqlite_file: Path,
) -> None:
    headers = {**await editor_headers(sqlite_file), "Idempotency-Key": "one-key"}
    body = {"nome": "Ana", "documento": next_cpf()}
    async with running_app(make_settings(url(sqlite_file))) as http:
        responses = await asyncio.gather(
            *(http.post("/api/v1/clientes/", json=body, headers=headers) for _ in range(4))
        )
    statuses = Counter(response.status_code for response in responses)
    fresh = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert set(statuses) <= {201, 409}, statuses
    assert len(fresh) == 1
    with sqlite3.connect(sqlite_file) as connection:
        assert connection.execute("SELECT count(*) FROM clients").fetchone() == (1,)


async def test_concurrent_writes_of_one_client_all_land_and_keep_the_summaries_exact(
    sqlite_file: Path,
) -> None:
    headers = await editor_headers(sqlite_file)
    settings = make_settings(url(sqlite_file))
    async with running_app(settings) as http:
        created = await http.post(
            "/api/v1/clientes/", json={"nome": "Ana", "documento": next_cpf()}, headers=headers
        )
        client_id = created.json()["id"]
        responses = await asyncio.gather(
            *(
                http.post(
                    "/api/v1/consumos/",
                    json={"cliente": client_id, "mes": f"2026-{n:02d}", "consumo_kwh": n},
                    headers=headers,
                )
                for n in range(1, 13)
            )
        )
    assert [r.status_code for r in responses] == [201] * 12
    engine = create_engine(url(sqlite_file), settings)
    try:
        async with create_sessionmaker(engine)() as session:
            assert await summaries_service.verify(session) == []
    finally:
        await engine.dispose()


async def test_a_writer_that_waits_past_the_busy_timeout_gets_503(sqlite_file: Path) -> None:
    headers = await editor_headers(sqlite_file)
    settings = make_settings(url(sqlite_file), db_pool_timeout=0.3)
    body = {"nome": "Ana", "documento": next_cpf()}
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    try:
        async with running_app(settings) as http:
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            refused = await http.post("/api/v1/clientes/", json=body, headers=headers)
            holder.execute("ROLLBACK")
            accepted = await http.post("/api/v1/clientes/", json=body, headers=headers)
    finally:
        holder.close()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    assert accepted.status_code == 201
