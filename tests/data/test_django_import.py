"""Import from the Django system (PostgreSQL only): users with their passwords, clients with
their ids and normalised documents, consumptions with their months fixed, every refusal
reported, a second run importing nothing, the summaries exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import User
from energy_api.clients import service as clients_service
from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.django_import import service, source
from energy_api.summaries import service as summaries_service
from tests.conftest import make_settings
from tests.data import django_source as dj


@pytest.fixture
async def django_url(postgres_only: None) -> AsyncIterator[str]:
    async with dj.django_database() as url:
        yield url


@pytest.fixture
async def clean_target(db_session: AsyncSession) -> None:
    """No users or clients that the import would collide with (in the test's transaction)."""
    from sqlalchemy import delete

    names = [u[1] for u in dj.USERS]
    await db_session.execute(delete(User).where(User.username.in_(names)))
    ids = [c[0] for c in dj.CLIENTS]
    for client_id in ids:
        if await db_session.get(Client, client_id) is not None:
            await clients_service.delete(db_session, client_id)
    await db_session.flush()


async def run(session: AsyncSession, url: str, *, lenient: bool = False) -> service.Report:
    snapshot = await source.read(url)
    return await service.run(session, snapshot, lenient_documents=lenient)


def refused(report: service.Report, table: int) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for refusal in report.tables[table].refused:
        found.setdefault(refusal.source_id, []).append(f"{refusal.field}: {refusal.message}")
    return found


async def test_users_keep_their_password_role_and_activity(
    db_session: AsyncSession, django_url: str, clean_target: None
) -> None:
    report = await run(db_session, django_url)
    users = report.tables[0]
    assert (users.read, users.imported, users.refused_rows) == (6, 3, 3)
    rows = await db_session.execute(
        select(User.username, User.role, User.is_active, User.password_hash).where(
            User.username.in_(list(dj.IMPORTED_USERS))
        )
    )
    found = {name: (role, active, hashed) for name, role, active, hashed in rows}
    assert {name: role for name, (role, _, _) in found.items()} == dj.IMPORTED_USERS
    assert found["carol"][1] is False and found["alice"][1] is True
    assert found["alice"][2] == dj.USERS[0][2]
    assert set(refused(report, 0)) == dj.REJECTED_USERS
    assert "pbkdf2_sha256" in refused(report, 0)[4][0]
    assert refused(report, 0)[5][0].startswith("username:")


async def test_an_imported_user_logs_in_with_the_django_password_and_gets_argon2(
    client: AsyncClient, db_session: AsyncSession, django_url: str, clean_target: None
) -> None:
    await run(db_session, django_url)
    response = await client.post(
        "/api/token/", json={"username": "alice", "password": dj.ALICE_PASSWORD}
    )
    assert response.status_code == 200, response.text
    hashed = await db_session.scalar(select(User.password_hash).where(User.username == "alice"))
    assert hashed is not None and hashed.startswith("$argon2")
    wrong = await client.post("/api/token/", json={"username": "bob", "password": "nope-123"})
    assert wrong.status_code == 401


async def test_clients_keep_their_ids_with_normalised_documents(
    db_session: AsyncSession, django_url: str, clean_target: None
) -> None:
    report = await run(db_session, django_url)
    assert report.tables[1].imported == 3
    rows = await db_session.execute(
        select(Client.id, Client.name, Client.document).where(Client.id.in_([1, 2, 10]))
    )
    assert sorted(rows) == [
        (1, "Maria da Silva", "52998224725"),
        (2, "João Pereira", "11144477735"),
        (10, "Oficina Alfa", "12ABC34501DE35"),
    ]
    problems = refused(report, 1)
    assert set(problems) == dj.REJECTED_CLIENTS
    assert "--lenient-documents" in problems[3][0]
    assert "not merged" in problems[4][0] and "client 5" in problems[4][0]
    assert "not merged" in problems[5][0] and "client 4" in problems[5][0]
    assert problems[6][0].startswith("nome:")


async def test_new_clients_get_ids_past_the_imported_ones(
    db_session: AsyncSession, django_url: str, clean_target: None
) -> None:
    await run(db_session, django_url)
    settings = make_settings("postgresql+asyncpg://unused/")
    created = await clients_service.create(
        db_session, settings, name="Depois", document="390.533.447-05"
    )
    assert created.id > 10


async def test_lenient_documents_import_invalid_check_digits(
    db_session: AsyncSession, django_url: str, clean_target: None
) -> None:
    report = await run(db_session, django_url, lenient=True)
    assert 3 not in refused(report, 1)
    assert await db_session.scalar(select(Client.document).where(Client.id == 3)) == "12345678900"
    assert 11 not in refused(report, 2)  # its client came too


async def test_consumptions_months_values_and_dates(
    db_session: AsyncSession, django_url: str, clean_target: None
) -> None:
    report = await run(db_session, django_url)
    consumptions = report.tables[2]
    assert consumptions.imported == len(dj.IMPORTED_CONSUMPTIONS)
    assert set(refused(report, 2)) == dj.REJECTED_CONSUMPTIONS
    rows = await db_session.execute(
        select(Consumption.client_id, Consumption.month, Consumption.kwh, Consumption.created_at)
        .where(Consumption.client_id.in_([1, 2, 10]))
        .order_by(Consumption.client_id, Consumption.month)
    )
    got = [(c, m, k) for c, m, k, _ in rows]
    assert got == [
        (1, date(2024, 1, 1), Decimal("100.50")),
        (1, date(2024, 2, 1), Decimal("200.00")),  # 2024-02-15, moved
        (1, date(2024, 3, 1), Decimal("300.00")),
        (2, date(2024, 2, 1), Decimal("30.00")),
        (10, date(2024, 1, 1), Decimal("70.25")),
        (10, date(2024, 2, 1), Decimal("1.99")),
    ]
    created = await db_session.scalar(
        select(Consumption.created_at).where(
            Consumption.client_id == 1, Consumption.month == date(2024, 1, 1)
        )
    )
    assert created == datetime(2024, 2, 3, 10, 15, tzinfo=UTC)
    problems = refused(report, 2)
    assert problems[4][0].startswith("mes:") and "consumption 3" in problems[4][0]
    assert problems[5][0].startswith("consumo_kwh:")
    assert problems[6][0].startswith("consumo_kwh:")
    assert problems[7][0].startswith("mes:")
    assert problems[8][0].startswith("mes:") and "consumption 9" in problems[8][0]
    assert problems[11][0] == "cliente: client 3 was not imported"
    assert await summaries_service.verify(db_session) == []


async def test_a_second_run_imports_nothing_new(
    db_session: AsyncSession, django_url: str, clean_target: None
) -> None:
    first = await run(db_session, django_url)
    second = await run(db_session, django_url)
    assert second.imported == 0
    assert [t.present for t in second.tables] == [t.imported for t in first.tables]
    assert [t.refused_rows for t in second.tables] == [t.refused_rows for t in first.tables]
    assert await summaries_service.verify(db_session) == []


async def test_a_record_changed_here_since_is_refused_not_overwritten(
    db_session: AsyncSession, django_url: str, clean_target: None
) -> None:
    await run(db_session, django_url)
    record = await db_session.scalar(
        select(Consumption).where(
            Consumption.client_id == 10, Consumption.month == date(2024, 1, 1)
        )
    )
    assert record is not None
    from energy_api.consumptions import service as consumptions_service

    await consumptions_service.update(
        db_session, record.id, consumptions_service.ConsumptionChanges(kwh=Decimal("71"))
    )
    again = await run(db_session, django_url)
    assert "already has 71.00 kWh" in refused(again, 2)[13][0]


async def test_an_unreachable_source_is_one_clear_error(postgres_only: None) -> None:
    with pytest.raises(source.SourceError, match="cannot connect"):
        await source.read("postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(source.SourceError, match="postgresql"):
        source.dsn("sqlite:///x.db")
