"""flagged_months stays equal to the anomaly rule applied to every record, after every write."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.clients import service as clients_service
from energy_api.consumptions import service as consumptions_service
from energy_api.consumptions.models import Consumption
from energy_api.consumptions.service import ConsumptionChanges
from energy_api.summaries import service as summaries_service
from energy_api.summaries.models import FlaggedMonth
from tests.analytics.support import (
    consecutive,
    customer_with,
    flagged_rows,
    get_ok,
    month,
    record,
    snapshot,
)
from tests.factories import create_client

pytestmark = pytest.mark.usefixtures("empty_portfolio")


FlagState = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


async def flag_state(session: AsyncSession) -> FlagState:
    """flagged_months and the non-zero rows of flagged_month_counts."""
    taken = await snapshot(session)
    return taken.flagged, taken.flag_counts


async def rebuilt_state(session: AsyncSession) -> FlagState:
    """What a full rebuild would store, leaving the maintained tables as they are."""
    savepoint = await session.begin_nested()
    await summaries_service.rebuild_all(session)
    state = await flag_state(session)
    await savepoint.rollback()
    return state


async def record_id(session: AsyncSession, client_id: int, mes: str) -> int:
    found = await session.execute(
        select(Consumption.id).where(
            Consumption.client_id == client_id, Consumption.month == month(mes)
        )
    )
    return found.scalar_one()


async def flags_of(session: AsyncSession, client_id: int) -> dict[str, tuple[Any, ...]]:
    rows = await flagged_rows(session, FlaggedMonth.client_id == client_id)
    return {f"{row[1]:%Y-%m}": row[2:] for row in rows}


async def test_a_stored_flag_has_every_figure_of_the_answer(db_session: AsyncSession) -> None:
    # 2025-03's history holds 2024-03 only: the year before, r = 3 → critical.
    customer = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "300.00"})

    ((client_id, mes, *figures),) = await flagged_rows(db_session)

    assert (client_id, mes) == (customer.id, month("2025-03"))
    # x 300.00, reference 100.00, desvio +200.00 %, no score.
    assert figures == [30000, 10000, 20000, None, "ano_anterior", "critica", "alta"]


async def test_a_record_at_m_flags_m_plus_12(db_session: AsyncSession) -> None:
    customer = await customer_with(db_session, {"2025-03": "300.00"})
    assert await flags_of(db_session, customer.id) == {}

    await record(db_session, customer, "2024-03", "100.00")  # 2025-03's year before

    assert list(await flags_of(db_session, customer.id)) == ["2025-03"]
    assert await flag_state(db_session) == await rebuilt_state(db_session)


async def test_a_record_at_m_minus_13_does_not_touch_m(db_session: AsyncSession) -> None:
    customer = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "300.00"})
    before = await flags_of(db_session, customer.id)

    await record(db_session, customer, "2024-02", "900.00")  # outside 2025-03's window

    assert await flags_of(db_session, customer.id) == before
    assert await flag_state(db_session) == await rebuilt_state(db_session)


async def test_an_update_at_m_rejudges_m_plus_12_and_keeps_m_plus_13(
    db_session: AsyncSession,
) -> None:
    # Both 2025 months are 3 × their year before; 2025-04's history (2024-04..2025-03) holds
    # two records, so it is judged against 2024-04 as well.
    customer = await customer_with(
        db_session,
        {"2024-03": "100.00", "2024-04": "100.00", "2025-03": "300.00", "2025-04": "300.00"},
    )
    assert list(await flags_of(db_session, customer.id)) == ["2025-03", "2025-04"]

    await consumptions_service.update(
        db_session,
        await record_id(db_session, customer.id, "2024-03"),
        ConsumptionChanges(kwh=Decimal("300.00")),
    )

    assert list(await flags_of(db_session, customer.id)) == ["2025-04"]
    assert await flag_state(db_session) == await rebuilt_state(db_session)


async def test_a_write_replaces_the_flags_of_m_to_m_plus_12_only(db_session: AsyncSession) -> None:
    customer = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "300.00"})
    # Rows no rule would store: just outside the range a write at 2024-05 re-judges, and at
    # its last month, m + 12.
    for mes in ("2024-04", "2025-06", "2025-05"):
        await db_session.execute(
            insert(FlaggedMonth).values(
                client_id=customer.id,
                month=month(mes),
                kwh_cents=1,
                reference_cents=1,
                method="mad",
                severity="alerta",
                direction="alta",
            )
        )

    await record(db_session, customer, "2024-05", "100.00")

    assert list(await flags_of(db_session, customer.id)) == ["2024-04", "2025-03", "2025-06"]


async def test_deleting_the_month_removes_its_flag(db_session: AsyncSession) -> None:
    customer = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "300.00"})

    await consumptions_service.delete(
        db_session, await record_id(db_session, customer.id, "2025-03")
    )

    assert await flag_state(db_session) == ([], [])


async def test_deleting_the_reference_removes_the_flag(db_session: AsyncSession) -> None:
    customer = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "300.00"})

    await consumptions_service.delete(
        db_session, await record_id(db_session, customer.id, "2024-03")
    )

    assert await flag_state(db_session) == ([], [])


async def test_moving_a_record_to_another_client_rejudges_both(db_session: AsyncSession) -> None:
    giver = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "300.00"})
    taker = await customer_with(db_session, {"2025-06": "50.00"})

    await consumptions_service.update(
        db_session,
        await record_id(db_session, giver.id, "2024-03"),
        ConsumptionChanges(client_id=taker.id, month=month("2024-06")),
    )

    rows, counts = await flag_state(db_session)
    assert [(row[0], row[1], row[7]) for row in rows] == [(taker.id, month("2025-06"), "alerta")]
    assert counts == [(month("2025-06"), 1)]
    assert (rows, counts) == await rebuilt_state(db_session)


async def test_deleting_a_client_deletes_its_flags(db_session: AsyncSession) -> None:
    gone = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "300.00"})
    kept = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "20.00"})

    await clients_service.delete(db_session, gone.id)

    rows, counts = await flag_state(db_session)
    assert [row[0] for row in rows] == [kept.id]
    assert counts == [(month("2025-03"), 1)]
    assert (rows, counts) == await rebuilt_state(db_session)


async def test_random_writes_keep_the_table_equal_to_a_rebuild(db_session: AsyncSession) -> None:
    """Inserts, value changes, moves within and across clients, deletes: gaps, short histories,
    MAD = 0 and year-before references all occur; after each write the table is checked."""
    rng = random.Random(20261129)
    months = [f"{2023 + i // 12}-{i % 12 + 1:02d}" for i in range(36)]
    values = ["100.00"] * 6 + ["101.00", "99.00", "104.00", "150.00", "300.00", "20.00", "0.00"]
    customers = [(await create_client(db_session)).id for _ in range(3)]
    seen: set[str] = set()

    async def free_month(client_id: int) -> str:
        taken = set(
            (
                await db_session.scalars(
                    select(Consumption.month).where(Consumption.client_id == client_id)
                )
            ).all()
        )
        return rng.choice([m for m in months if month(m) not in taken])

    for client_id in customers:
        for mes in rng.sample(months, 20):
            await consumptions_service.create(
                db_session, client_id=client_id, month=month(mes), kwh=Decimal(rng.choice(values))
            )
    assert await flag_state(db_session) == await rebuilt_state(db_session)

    for _ in range(40):
        records = (await db_session.scalars(select(Consumption.id).order_by(Consumption.id))).all()
        target = rng.choice(records)
        action = rng.choice(["insert", "value", "month", "client", "delete"])
        if action == "insert":
            client_id = rng.choice(customers)
            await consumptions_service.create(
                db_session,
                client_id=client_id,
                month=month(await free_month(client_id)),
                kwh=Decimal(rng.choice(values)),
            )
        elif action == "value":
            await consumptions_service.update(
                db_session, target, ConsumptionChanges(kwh=Decimal(rng.choice(values)))
            )
        elif action in ("month", "client"):
            current, _ = await consumptions_service.get(db_session, target)
            client_id = rng.choice(customers) if action == "client" else current.client_id
            await consumptions_service.update(
                db_session,
                target,
                ConsumptionChanges(client_id=client_id, month=month(await free_month(client_id))),
            )
        else:
            await consumptions_service.delete(db_session, target)
        maintained = await flag_state(db_session)
        assert maintained == await rebuilt_state(db_session), action
        seen.update(f"{row[6]} {row[7]} score={row[5] is not None}" for row in maintained[0])

    # The walk met every kind of verdict (the seed is fixed).
    assert seen >= {
        "mad alerta score=True",
        "mad critica score=True",
        "mad critica score=False",
        "ano_anterior critica score=False",
    }


async def test_portfolio_total_counts_the_range_exactly(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    # Year-before flags at 2025-02, 2025-05 (two clients) and 2025-09.
    for pair in (("2024-02", "2025-02"), ("2024-05", "2025-05"), ("2024-09", "2025-09")):
        await customer_with(db_session, {pair[0]: "10.00", pair[1]: "30.00"})
    await customer_with(db_session, {"2024-05": "10.00", "2025-05": "1.00"})

    async def total(**params: str) -> tuple[int, list[str]]:
        body = await get_ok(client, "anomalias", viewer_headers, limite=1, **params)
        return body["total"], [item["mes"] for item in body["itens"]]

    assert await total() == (4, ["2025-09-01"])
    assert await total(de="2025-03") == (3, ["2025-09-01"])
    assert await total(ate="2025-05") == (3, ["2025-05-01"])
    assert await total(de="2025-05", ate="2025-05") == (2, ["2025-05-01"])
    assert await total(de="2025-02", ate="2025-02") == (1, ["2025-02-01"])
    assert await total(de="2025-06", ate="2025-08") == (0, [])


async def test_per_client_and_portfolio_answers_agree(
    client: AsyncClient, db_session: AsyncSession, viewer_headers: dict[str, str]
) -> None:
    spiky = await customer_with(
        db_session, consecutive("2024-01", ["100.00"] * 12 + ["151.00", "100.00", "40.00"])
    )
    other = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "300.00"})

    portfolio = await get_ok(client, "anomalias", viewer_headers, limite=1000)
    per_client = {
        customer.id: await get_ok(
            client, "anomalias", viewer_headers, cliente_id=customer.id, limite=1000
        )
        for customer in (spiky, other)
    }

    assert portfolio["total"] == 3
    for customer_id, body in per_client.items():
        mine = [item for item in portfolio["itens"] if item["cliente_id"] == customer_id]
        assert body == {"total": len(mine), "itens": mine}
    assert [(item["mes"], item["cliente_id"]) for item in portfolio["itens"]] == [
        ("2025-03-01", spiky.id),
        ("2025-03-01", other.id),
        ("2025-01-01", spiky.id),
    ]


async def test_rebuilding_some_clients_leaves_the_others_flags_alone(
    db_session: AsyncSession,
) -> None:
    kept = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "300.00"})
    repaired = await customer_with(db_session, {"2024-03": "100.00", "2025-03": "20.00"})
    await db_session.execute(delete(FlaggedMonth).where(FlaggedMonth.client_id == repaired.id))
    await db_session.execute(
        update(FlaggedMonth).where(FlaggedMonth.client_id == kept.id).values(kwh_cents=1)
    )

    await summaries_service.rebuild_clients(db_session, [repaired.id])

    rows = await flagged_rows(db_session)
    assert [(row[0], row[2]) for row in rows] == [(kept.id, 1), (repaired.id, 2000)]
