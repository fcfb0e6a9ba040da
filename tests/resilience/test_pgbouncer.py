"""Behind PgBouncer 1.18 in transaction mode (Debian's package, configured as it usually is):
the contract works, a concurrent mixed load gets no 5xx, the statement timeout still holds, no
named prepared statement is left on a server connection, and a deactivation takes effect
within a second through the listener's direct connection.

The service runs in this process over a real pool through a real pgbouncer in front of a
throwaway cluster; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from energy_api.auth.models import Role, User
from energy_api.main import create_app
from energy_api.security import pwd_context
from tests.conftest import TEST_PASSWORD, make_settings
from tests.factories import next_cpf
from tests.throwaway import (
    Bouncer,
    Cluster,
    cluster,
    create_migrated_database,
    pgbouncer,
    skip_unless_available,
)

DATABASE = "energy"
REQUESTS = 400
CONCURRENCY = 40


@pytest.fixture(scope="module")
def bounced() -> Iterator[tuple[Cluster, Bouncer]]:
    skip_unless_available("initdb", "pg_ctl", "pgbouncer")
    with cluster() as primary:
        create_migrated_database(primary, DATABASE)
        with pgbouncer(primary, pool_size=8) as bouncer:
            yield primary, bouncer


@pytest.fixture
async def service(bounced: tuple[Cluster, Bouncer]) -> AsyncIterator[FastAPI]:
    primary, bouncer = bounced
    app = create_app(
        make_settings(
            bouncer.url(DATABASE),
            database_pooler="transaction",
            database_direct_url=primary.url(DATABASE),
            db_pool_size=10,
            db_pool_timeout=10,
        )
    )
    async with app.router.lifespan_context(app):
        async with asyncio.timeout(10):
            await app.state.listener.wait_connected()
        yield app


async def add_user(app: FastAPI, username: str, role: Role) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        session.add(
            User(
                username=username,
                password_hash=pwd_context.hash(TEST_PASSWORD),
                role=role.value,
                is_active=True,
            )
        )


async def login(client: AsyncClient, username: str) -> dict[str, str]:
    response = await client.post(
        "/api/token/", json={"username": username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access']}"}


def unique(prefix: str) -> str:
    return f"{prefix}{random.randrange(10**9)}"


async def test_the_service_refuses_to_start_through_pgbouncer_without_the_setting(
    bounced: tuple[Cluster, Bouncer],
) -> None:
    """The failure the setting exists for: the connection's statement_timeout is refused."""
    _, bouncer = bounced
    app = create_app(make_settings(bouncer.url(DATABASE)))
    async with app.router.lifespan_context(app):
        with pytest.raises(Exception, match="unsupported startup parameter"):
            async with app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))


async def test_contract_and_mixed_load_get_no_5xx(service: FastAPI) -> None:
    admin = unique("admin")
    await add_user(service, admin, Role.admin)
    transport = ASGITransport(app=service)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        headers = await login(client, admin)

        # The core of the contract.
        created = await client.post(
            "/api/v1/clientes/", json={"nome": "Maria", "documento": next_cpf()}, headers=headers
        )
        assert created.status_code == 201, created.text
        client_id = created.json()["id"]
        for month, kwh in (("2026-01", 300), ("2026-02", 350.5)):
            response = await client.post(
                "/api/v1/consumos/",
                json={"cliente": client_id, "mes": month, "consumo_kwh": kwh},
                headers=headers,
            )
            assert response.status_code == 201, response.text
        duplicate = await client.post(
            "/api/v1/consumos/",
            json={"cliente": client_id, "mes": "2026-01", "consumo_kwh": 1},
            headers=headers,
        )
        assert duplicate.status_code == 409
        media = await client.get(
            f"/api/v1/analytics/media-consumo/?cliente_id={client_id}", headers=headers
        )
        assert media.json()["media"] == 325.25
        key = {"Idempotency-Key": unique("key-"), **headers}
        body = {"nome": "Ana", "documento": next_cpf()}
        first = await client.post("/api/v1/clientes/", json=body, headers=key)
        again = await client.post("/api/v1/clientes/", json=body, headers=key)
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        for path in (
            "/api/v1/clientes/?limit=10",
            f"/api/v1/clientes/{client_id}/",
            f"/api/v1/consumos/?cliente_id={client_id}",
            "/api/v1/analytics/resumo/?de=2026-01&ate=2026-12",
            "/api/v1/analytics/ranking/?de=2026-01&ate=2026-12&limite=5",
            f"/api/v1/analytics/serie-mensal/?cliente_id={client_id}",
            "/api/v1/usuarios/me/",
            "/health/ready",
        ):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)

        # A concurrent mixed load: reads, writes, analytics, logins, errors.
        clients = [client_id]
        for _ in range(5):
            response = await client.post(
                "/api/v1/clientes/",
                json={"nome": "Carga", "documento": next_cpf()},
                headers=headers,
            )
            clients.append(response.json()["id"])
        months = iter(f"{year}-{month:02d}" for year in range(2000, 2026) for month in range(1, 13))

        async def one(index: int) -> int:
            target = clients[index % len(clients)]
            kind = index % 8
            if kind == 0:
                response = await client.post(
                    "/api/v1/consumos/",
                    json={"cliente": target, "mes": next(months), "consumo_kwh": index},
                    headers=headers,
                )
            elif kind == 1:
                response = await client.get(f"/api/v1/clientes/{target}/", headers=headers)
            elif kind == 2:
                response = await client.get("/api/v1/clientes/?limit=20", headers=headers)
            elif kind == 3:
                response = await client.get(
                    f"/api/v1/analytics/media-consumo/?cliente_id={target}", headers=headers
                )
            elif kind == 4:
                response = await client.get(
                    "/api/v1/analytics/resumo/?de=2000-01&ate=2001-12", headers=headers
                )
            elif kind == 5:
                response = await client.get(
                    f"/api/v1/consumos/?cliente_id={target}&limit=50", headers=headers
                )
            elif kind == 6:
                response = await client.patch(
                    f"/api/v1/clientes/{target}/",
                    json={"nome": f"Carga {index}"},
                    headers=headers,
                )
            else:
                response = await client.get("/api/v1/clientes/999999999/", headers=headers)
            return int(response.status_code)

        gate = asyncio.Semaphore(CONCURRENCY)

        async def gated(index: int) -> int:
            async with gate:
                return await one(index)

        started = time.perf_counter()
        statuses = Counter(await asyncio.gather(*(gated(i) for i in range(REQUESTS))))
        elapsed = time.perf_counter() - started
        print(f"\npgbouncer load: {REQUESTS} requests in {elapsed:.2f} s: {dict(statuses)}")
        assert not [status for status in statuses if status >= 500], statuses
        # Only the answers the contract gives: unknown ids and clients without records are 404.
        assert set(statuses) <= {200, 201, 404}, statuses


async def test_statement_timeout_holds_per_transaction(service: FastAPI) -> None:
    async with service.state.sessionmaker() as session, session.begin():
        shown = (await session.execute(text("SHOW statement_timeout"))).scalar_one()
        assert shown == "5s"
        with pytest.raises(Exception, match="statement timeout"):
            await session.execute(text("SELECT pg_sleep(6)"))


async def test_no_named_prepared_statement_is_left_on_a_server_connection(
    service: FastAPI,
) -> None:
    """After the load, every server connection the pooler holds is free of prepared statements
    (held open together, the checks land on different server connections)."""
    engine = service.state.engine
    for _ in range(3):
        await asyncio.gather(*(engine_read(engine) for _ in range(20)))

    async def check() -> int:
        async with engine.connect() as connection, connection.begin():
            count = (
                await connection.execute(text("SELECT count(*) FROM pg_prepared_statements"))
            ).scalar_one()
            await connection.execute(text("SELECT pg_sleep(0.2)"))
            return int(count)

    assert await asyncio.gather(*(check() for _ in range(8))) == [0] * 8


async def engine_read(engine: Any) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT id FROM clients ORDER BY id LIMIT 5"))


async def test_a_deactivation_is_refused_within_a_second(service: FastAPI) -> None:
    admin, user = unique("admin"), unique("user")
    await add_user(service, admin, Role.admin)
    await add_user(service, user, Role.viewer)
    transport = ASGITransport(app=service)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        admin_headers = await login(client, admin)
        user_headers = await login(client, user)
        # Cached while the listener is connected.
        for _ in range(3):
            assert (
                await client.get("/api/v1/usuarios/me/", headers=user_headers)
            ).status_code == 200
        assert service.state.principals.enabled
        listing = await client.get(f"/api/v1/usuarios/?busca={user}", headers=admin_headers)
        [found] = [u for u in listing.json()["items"] if u["username"] == user]
        response = await client.patch(
            f"/api/v1/usuarios/{found['id']}/", json={"ativo": False}, headers=admin_headers
        )
        assert response.status_code == 200, response.text
        deactivated = time.monotonic()
        while (await client.get("/api/v1/usuarios/me/", headers=user_headers)).status_code == 200:
            assert time.monotonic() - deactivated < 1.0, "still let in after a second"
            await asyncio.sleep(0.01)
        print(f"\ndeactivation refused after {time.monotonic() - deactivated:.3f} s")


async def test_without_a_direct_url_the_user_cache_stays_off(
    bounced: tuple[Cluster, Bouncer],
) -> None:
    _, bouncer = bounced
    app = create_app(make_settings(bouncer.url(DATABASE), database_pooler="transaction"))
    async with app.router.lifespan_context(app):
        assert app.state.listener is None
        assert not app.state.principals.enabled
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/health/ready")
            assert response.status_code == 200
            assert response.json()["listener"] == "off"
