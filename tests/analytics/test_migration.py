"""The analytics migration fills the summary tables from the records that already exist."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.cli import migrate
from energy_api.db import create_engine, create_sessionmaker
from energy_api.summaries import service as summaries_service
from tests.analytics.support import flagged_rows, month, snapshot
from tests.conftest import make_settings

BEFORE_ANALYTICS = "20261129_0001"
BEFORE_FLAGGED_MONTHS = "20261129_0005"


TWO_CLIENTS = text(
    "INSERT INTO clients (id, name, document) VALUES "
    "(1, 'A', '52998224725'), (2, 'B', '11144477735')"
)


async def test_upgrade_summarises_existing_records(empty_database_url: str) -> None:
    settings = make_settings(empty_database_url)
    await asyncio.to_thread(migrate, settings, BEFORE_ANALYTICS)
    engine = create_engine(empty_database_url, settings, for_migrations=True)
    try:
        async with engine.begin() as connection:
            await connection.execute(TWO_CLIENTS)
            await connection.execute(
                text(
                    "INSERT INTO consumptions (client_id, month, kwh) VALUES "
                    "(1, '2025-01-01', 10.10), (1, '2025-03-01', 0.05), (2, '2025-03-01', 2.00)"
                )
            )
        await asyncio.to_thread(migrate, settings)

        session: AsyncSession
        async with create_sessionmaker(engine)() as session:
            migrated = await snapshot(session)
            await summaries_service.rebuild_all(session)
            assert migrated == await snapshot(session)
            assert migrated.months == [(month("2025-01"), 1010, 1), (month("2025-03"), 205, 2)]
            assert migrated.links == [
                (month("2025-01"), month("2025-01"), 1),
                (month("2025-03"), month("2025-01"), 1),  # A's gap over February
                (month("2025-03"), month("2025-03"), 1),  # B's first record
            ]
            assert migrated.totals == [(1, 1015, 2), (2, 200, 1)]
            # A: 2025-01 and 2025-02 windows hold January; 2025-03..2025-12 both; 2026-01..02
            # only March. B: 2025-03..2026-02 hold its one record.
            assert len(migrated.trailing) == 14 + 12
            assert migrated.trailing[:3] == [
                (1, month("2025-01"), 1010, 1),
                (1, month("2025-02"), 1010, 1),
                (1, month("2025-03"), 1015, 2),
            ]
            await session.rollback()
    finally:
        await engine.dispose()


async def test_upgrade_judges_existing_records(empty_database_url: str) -> None:
    settings = make_settings(empty_database_url)
    await asyncio.to_thread(migrate, settings, BEFORE_FLAGGED_MONTHS)
    engine = create_engine(empty_database_url, settings, for_migrations=True)
    try:
        async with engine.begin() as connection:
            await connection.execute(TWO_CLIENTS)
            # A: 2025-03 is 3 × its year before (critical); B: 0.5 × (an alert), 2025-04 not.
            await connection.execute(
                text(
                    "INSERT INTO consumptions (client_id, month, kwh) VALUES "
                    "(1, '2024-03-01', 100.00), (1, '2025-03-01', 300.00),"
                    " (2, '2024-03-01', 80.00), (2, '2025-03-01', 40.00),"
                    " (2, '2025-04-01', 50.00)"
                )
            )
        await asyncio.to_thread(migrate, settings)

        session: AsyncSession
        async with create_sessionmaker(engine)() as session:
            migrated = await flagged_rows(session)
            counts = (await snapshot(session)).flag_counts
            await summaries_service.rebuild_all(session)
            assert migrated == await flagged_rows(session)
            assert counts == (await snapshot(session)).flag_counts == [(month("2025-03"), 2)]
            assert migrated == [
                (1, month("2025-03"), 30000, 10000, 20000, None, "ano_anterior", "critica", "alta"),
                (2, month("2025-03"), 4000, 8000, -5000, None, "ano_anterior", "alerta", "baixa"),
            ]
            await session.rollback()
    finally:
        await engine.dispose()


async def test_upgrade_deletes_the_summary_rows_of_zeros(empty_database_url: str) -> None:
    settings = make_settings(empty_database_url)
    await asyncio.to_thread(migrate, settings, "20261129_0007")
    engine = create_engine(empty_database_url, settings, for_migrations=True)
    try:
        async with engine.begin() as connection:
            await connection.execute(TWO_CLIENTS)
            for statement in (
                "INSERT INTO client_totals VALUES (1, 0, 0), (2, 500, 1)",
                "INSERT INTO client_trailing_years VALUES (1, '2025-01-01', 0, 0),"
                " (2, '2025-01-01', 500, 1)",
                "INSERT INTO portfolio_months VALUES ('2025-01-01', 0, 0), ('2025-02-01', 500, 1)",
                "INSERT INTO portfolio_month_links VALUES ('2025-01-01', '2025-01-01', 0),"
                " ('2025-02-01', '2025-02-01', 1)",
                "INSERT INTO flagged_month_counts VALUES ('2025-01-01', 0), ('2025-02-01', 1)",
            ):
                await connection.execute(text(statement))
        await asyncio.to_thread(migrate, settings)

        async with engine.connect() as connection:
            remaining = [
                (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar()  # noqa: S608
                for table in (
                    "client_totals",
                    "client_trailing_years",
                    "portfolio_months",
                    "portfolio_month_links",
                    "flagged_month_counts",
                )
            ]
        assert remaining == [1, 1, 1, 1, 1]
    finally:
        await engine.dispose()
