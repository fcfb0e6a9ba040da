"""The portfolio summaries stay equal to what the consumptions say after every kind of write."""

from __future__ import annotations

from decimal import Decimal

import pytest
from httpx import AsyncClient
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients import repository as clients_repository
from energy_api.consumptions import service as consumptions_service
from energy_api.consumptions.models import Consumption
from energy_api.consumptions.service import ConsumptionChanges
from energy_api.summaries import service as summaries_service
from energy_api.summaries.models import ClientTotal
from tests.analytics.support import API, Snapshot, customer_with, get_ok, month, snapshot
from tests.factories import create_client

pytestmark = pytest.mark.usefixtures("empty_portfolio")


async def record_id(session: AsyncSession, client_id: int, mes: str) -> int:
    found = await session.execute(
        select(Consumption.id).where(
            Consumption.client_id == client_id, Consumption.month == month(mes)
        )
    )
    return found.scalar_one()


async def rebuilt(session: AsyncSession) -> Snapshot:
    await summaries_service.rebuild_all(session)
    return await snapshot(session)


async def test_summaries_equal_a_rebuild_after_inserts_moves_and_deletes(
    db_session: AsyncSession,
) -> None:
    a = await customer_with(db_session, {"2025-01": "10.00", "2025-03": "30.00"})
    b = await customer_with(db_session, {"2025-02": "20.00"})
    extra, _ = await consumptions_service.create(
        db_session, client_id=a.id, month=month("2025-02"), kwh=Decimal("5.55")
    )  # fills a's gap
    await consumptions_service.update(
        db_session, extra.id, ConsumptionChanges(month=month("2025-05"))
    )
    await consumptions_service.update(db_session, extra.id, ConsumptionChanges(kwh=Decimal("7.25")))
    await consumptions_service.update(
        db_session, extra.id, ConsumptionChanges(client_id=b.id)
    )  # to b, 2025-05
    moved, _ = await consumptions_service.create(
        db_session, client_id=b.id, month=month("2024-12"), kwh=Decimal("1.00")
    )
    await consumptions_service.update(
        db_session, moved.id, ConsumptionChanges(client_id=a.id, month=month("2025-04"))
    )
    # a: 01, 03, 04. Its 01 moves next to itself, to 02: the removal of 01 must not see 02.
    await consumptions_service.update(
        db_session,
        await record_id(db_session, a.id, "2025-01"),
        ConsumptionChanges(month=month("2025-02")),
    )
    await consumptions_service.delete(db_session, await record_id(db_session, a.id, "2025-03"))

    maintained = await snapshot(db_session)

    assert maintained == await rebuilt(db_session)
    # a: 2025-02 10.00, 2025-04 1.00; b: 2025-02 20.00, 2025-05 7.25
    assert maintained.months == [
        (month("2025-02"), 3000, 2),
        (month("2025-04"), 100, 1),
        (month("2025-05"), 725, 1),
    ]
    assert maintained.links == [
        (month("2025-02"), month("2025-02"), 2),  # first records of a and b
        (month("2025-04"), month("2025-02"), 1),
        (month("2025-05"), month("2025-02"), 1),
    ]
    assert maintained.totals == [(a.id, 1100, 2), (b.id, 2725, 2)]
    # a's windows: those ending 2025-02..2025-03 hold 10.00; 2025-04..2026-01 both records;
    # 2026-02..2026-03 only April's (February has left them).
    assert [row for row in maintained.trailing if row[0] == a.id] == [
        *[(a.id, month(m), 1000, 1) for m in ("2025-02", "2025-03")],
        *[(a.id, month(f"2025-{n:02d}"), 1100, 2) for n in range(4, 13)],
        (a.id, month("2026-01"), 1100, 2),
        *[(a.id, month(m), 100, 1) for m in ("2026-02", "2026-03")],
    ]


async def test_summaries_follow_writes_made_through_the_api(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    customer = await create_client(db_session)
    created = await client.post(
        "/api/v1/consumos/",
        json={"cliente": customer.id, "mes": "2025-01", "consumo_kwh": 40.5},
        headers=editor_headers,
    )
    assert created.status_code == 201, created.text
    patched = await client.patch(
        f"/api/v1/consumos/{created.json()['id']}/",
        json={"mes": "2025-02", "consumo_kwh": 60},
        headers=editor_headers,
    )
    assert patched.status_code == 200, patched.text

    body = await get_ok(client, "resumo", viewer_headers)

    assert (body["de"], body["total_kwh"], body["clientes"]) == ("2025-02", 60.0, 1)


async def test_deleting_a_record_through_the_api_takes_it_out_of_the_portfolio(
    client: AsyncClient,
    db_session: AsyncSession,
    editor_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    customer = await customer_with(db_session, {"2025-01": "10.00"})
    await customer_with(db_session, {"2025-01": "5.00"})
    record_id = (
        await db_session.execute(select(Consumption.id).where(Consumption.client_id == customer.id))
    ).scalar_one()

    deleted = await client.delete(f"/api/v1/consumos/{record_id}/", headers=editor_headers)
    assert deleted.status_code == 204

    body = await get_ok(client, "resumo", viewer_headers)
    assert (body["total_kwh"], body["clientes"], body["meses"]) == (5.0, 1, 1)


async def test_forgetting_a_deleted_client_keeps_the_summaries_exact(
    db_session: AsyncSession,
) -> None:
    gone = await customer_with(
        db_session, {"2024-11": "1.00", "2025-01": "2.00", "2025-02": "3.00"}
    )
    await customer_with(db_session, {"2025-01": "4.00"})

    async with summaries_service.forgetting_client(db_session, gone.id):
        await clients_repository.delete_by_id(db_session, gone.id)  # cascades to its records

    maintained = await snapshot(db_session)
    assert maintained == await rebuilt(db_session)
    assert maintained.months == [(month("2025-01"), 400, 1)]


async def test_an_unchanged_update_leaves_the_summaries_alone(db_session: AsyncSession) -> None:
    customer = await customer_with(db_session, {"2025-01": "10.00"})
    record_id = (
        await db_session.execute(select(Consumption.id).where(Consumption.client_id == customer.id))
    ).scalar_one()

    await consumptions_service.update(
        db_session, record_id, ConsumptionChanges(kwh=Decimal("10.0"))
    )

    assert await snapshot(db_session) == await rebuilt(db_session)
    assert (await snapshot(db_session)).months == [(month("2025-01"), 1000, 1)]


async def test_analytics_see_the_api_writes(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    await customer_with(db_session, {"2025-01": "10.00", "2025-02": "20.00"})

    response = await client.get(f"{API}/serie-mensal/", headers=viewer_headers)

    assert [p["total_kwh"] for p in response.json()["pontos"]] == [10.0, 20.0]


async def test_rebuilding_some_clients_leaves_the_others_alone(db_session: AsyncSession) -> None:
    kept = await customer_with(db_session, {"2025-01": "1.00"})
    repaired = await customer_with(db_session, {"2025-01": "2.00"})
    await db_session.execute(
        update(ClientTotal).where(ClientTotal.client_id == kept.id).values(total_cents=999)
    )
    await db_session.execute(delete(ClientTotal).where(ClientTotal.client_id == repaired.id))

    await summaries_service.rebuild_clients(db_session, [repaired.id])

    assert (await snapshot(db_session)).totals == [(kept.id, 999, 1), (repaired.id, 200, 1)]
