"""The benchmark generator's flags (computed in Python as it generates) equal the repository's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from bench.generate import ValueModel, judge, month_list
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.consumptions.models import Consumption
from energy_api.summaries import service as summaries_service
from energy_api.summaries.models import FlaggedMonth
from energy_api.summaries.rule import FLAGGED_COLUMNS
from tests.analytics.support import flagged_rows
from tests.factories import create_client

MONTHS = month_list(date(2025, 12, 1), 48)
FLAT = [10_000] * 12


def series() -> list[list[int]]:
    """Realistic clients, and flat ones (MAD = 0) with spikes, drops and a zero."""
    model = ValueModel(7, MONTHS)
    realistic = [model.client_cents() for _ in range(40)]
    planted = [
        [*FLAT, 15_100, *FLAT, 0, *FLAT, 4_000, *FLAT[:9]],
        [*FLAT, 15_000, 14_999, 30_000, *FLAT, 10_001, 9_999, *FLAT, 50_000, 1, 2, 3, 4, 5, 6],
        [0] * 20 + [1, 0, 0, 7] + [0] * 24,
    ]
    return realistic + planted


@pytest.mark.usefixtures("empty_portfolio")
async def test_generated_flags_equal_the_repository_rule(db_session: AsyncSession) -> None:
    expected = []
    for values in series():
        customer = await create_client(db_session)
        await db_session.execute(
            insert(Consumption),
            [
                {"client_id": customer.id, "month": month, "kwh": Decimal(cents).scaleb(-2)}
                for month, cents in zip(MONTHS, values, strict=True)
            ],
        )
        expected += [(customer.id, MONTHS[offset], *rest) for offset, *rest in judge(values)]

    await summaries_service.rebuild_all(db_session)

    assert await flagged_rows(db_session) == expected
    kinds = {(row[7], row[5] is None) for row in expected}
    assert kinds == {("alerta", False), ("critica", False), ("alerta", True), ("critica", True)}
    assert len(expected) >= 20


def test_the_generator_copies_flags_in_the_table_column_order() -> None:
    assert [column.name for column in FlaggedMonth.__table__.columns] == list(FLAGGED_COLUMNS)
