"""DATABASE_READ_URL: analytics and list reads land on a real streaming replica
(`pg_basebackup -R` of a throwaway cluster); writes, and reads that must see the caller's own
write, stay on the primary. With the replica's replay paused, a new client is missing from the
list (served by the replica) and present when read by id (the primary): the lag is the
trade-off, bounded by the replication lag."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from energy_api.auth.models import Role, User
from energy_api.main import create_app
from energy_api.security import pwd_context
from tests.conftest import TEST_PASSWORD, make_settings
from tests.factories import next_cpf
from tests.throwaway import (
    Cluster,
    cluster,
    create_migrated_database,
    replica,
    skip_unless_available,
)

DATABASE = "energy"


@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[Cluster, Cluster]]:
    skip_unless_available("initdb", "pg_ctl", "pg_basebackup")
    with cluster() as primary:
        create_migrated_database(primary, DATABASE)
        with replica(primary) as standby:
            yield primary, standby


@pytest.fixture
async def service(replicated: tuple[Cluster, Cluster]) -> AsyncIterator[FastAPI]:
    primary, standby = replicated
    app = create_app(make_settings(primary.url(DATABASE), database_read_url=standby.url(DATABASE)))
    async with app.router.lifespan_context(app):
        yield app


async def replayed(primary: Cluster, standby: Cluster) -> None:
    """Until the replica has replayed everything the primary has written."""
    source = await asyncpg.connect(primary.dsn(DATABASE))
    target = await asyncpg.connect(standby.dsn(DATABASE))
    try:
        lsn = await source.fetchval("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + 10
        while not await target.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", lsn):
            assert time.monotonic() < deadline, "the replica did not catch up"
            await asyncio.sleep(0.05)
    finally:
        await source.close()
        await target.close()


async def test_reads_that_may_lag_go_to_the_replica(
    service: FastAPI, replicated: tuple[Cluster, Cluster]
) -> None:
    primary, standby = replicated
    async with service.state.sessionmaker() as session, session.begin():
        session.add(
            User(
                username="replica-admin",
                password_hash=pwd_context.hash(TEST_PASSWORD),
                role=Role.admin.value,
                is_active=True,
            )
        )
    transport = ASGITransport(app=service)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        login = await client.post(
            "/api/token/", json={"username": "replica-admin", "password": TEST_PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.json()['access']}"}
        first = await client.post(
            "/api/v1/clientes/", json={"nome": "Primeira", "documento": next_cpf()}, headers=headers
        )
        await client.post(
            "/api/v1/consumos/",
            json={"cliente": first.json()["id"], "mes": "2026-01", "consumo_kwh": 100},
            headers=headers,
        )
        await replayed(primary, standby)

        paused = await asyncpg.connect(standby.dsn(DATABASE))
        try:
            await paused.execute("SELECT pg_wal_replay_pause()")
            second = await client.post(
                "/api/v1/clientes/",
                json={"nome": "Segunda", "documento": next_cpf()},
                headers=headers,
            )
            assert second.status_code == 201
            new_id = second.json()["id"]

            # The write and the read of what was just written: the primary.
            own = await client.get(f"/api/v1/clientes/{new_id}/", headers=headers)
            assert own.status_code == 200
            # The list and the analytics: the replica, which has not replayed the write yet.
            listed = await client.get("/api/v1/clientes/?limit=100", headers=headers)
            assert new_id not in [item["id"] for item in listed.json()["items"]]
            assert first.json()["id"] in [item["id"] for item in listed.json()["items"]]
            media = await client.get(
                f"/api/v1/analytics/media-consumo/?cliente_id={first.json()['id']}",
                headers=headers,
            )
            assert media.status_code == 200 and media.json()["media"] == 100
            missing = await client.get(
                f"/api/v1/analytics/resumo/?cliente_id={new_id}", headers=headers
            )
            assert missing.status_code == 404
            connections = await paused.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'energy-api'"
            )
            assert connections >= 1
        finally:
            await paused.execute("SELECT pg_wal_replay_resume()")
            await paused.close()

        await replayed(primary, standby)
        listed = await client.get("/api/v1/clientes/?limit=100", headers=headers)
        assert new_id in [item["id"] for item in listed.json()["items"]]
