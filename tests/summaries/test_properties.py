"""Any sequence of writes, through the services, leaves every summary equal to a rebuild.

Hypothesis draws sequences of creates, edits (value, month, client), deletes of records and
deletes of whole clients over a few clients and a handful of months — the accepted range's
first and last months among them, so the windows that reach past either end are exercised —
and `summaries.service.verify` must find nothing after each sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api import months
from energy_api.clients import service as clients_service
from energy_api.consumptions import service as consumptions_service
from energy_api.consumptions.models import Consumption
from energy_api.consumptions.service import ConsumptionChanges
from energy_api.errors import AppError
from energy_api.summaries import service as summaries_service
from tests.factories import create_client

MONTHS = [
    months.FIRST_MONTH,
    months.shift(months.FIRST_MONTH, 1),
    months.shift(months.FIRST_MONTH, 12),
    date(2000, 1, 1),
    date(2000, 2, 1),
    date(2000, 7, 1),
    date(2001, 1, 1),
    months.shift(months.LAST_MONTH, -12),
    months.shift(months.LAST_MONTH, -1),
    months.LAST_MONTH,
]
CLIENTS = 3
KWH = [Decimal("0"), Decimal("100"), Decimal("101.5"), Decimal("99"), Decimal("400"), Decimal("7")]


@dataclass(frozen=True)
class Write:
    kind: str
    client: int  # index into the test's clients
    month: int  # index into MONTHS
    kwh: int  # index into KWH
    record: int  # which existing record (modulo their number)


writes = st.lists(
    st.builds(
        Write,
        kind=st.sampled_from(["create"] * 4 + ["value", "month", "client", "delete", "drop"]),
        client=st.integers(0, CLIENTS - 1),
        month=st.integers(0, len(MONTHS) - 1),
        kwh=st.integers(0, len(KWH) - 1),
        record=st.integers(0, 50),
    ),
    min_size=1,
    max_size=25,
)


async def _apply(session: AsyncSession, clients: list[int], write: Write) -> None:
    records = (await session.scalars(select(Consumption.id).order_by(Consumption.id))).all()
    target = records[write.record % len(records)] if records else None
    client_id, month, kwh = clients[write.client], MONTHS[write.month], KWH[write.kwh]
    if write.kind == "create":
        await consumptions_service.create(session, client_id=client_id, month=month, kwh=kwh)
    elif write.kind == "drop":
        await clients_service.delete(session, client_id)
    elif target is None:
        return
    elif write.kind == "delete":
        await consumptions_service.delete(session, target)
    else:
        changes = {
            "value": ConsumptionChanges(kwh=kwh),
            "month": ConsumptionChanges(month=month),
            "client": ConsumptionChanges(client_id=client_id, month=month),
        }[write.kind]
        await consumptions_service.update(session, target, changes)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=writes)
async def test_any_sequence_of_writes_leaves_the_summaries_equal_to_a_rebuild(
    db_session: AsyncSession, empty_portfolio: None, sequence: list[Write]
) -> None:
    example = await db_session.begin_nested()  # each example starts from the same state
    try:
        clients = [(await create_client(db_session)).id for _ in range(CLIENTS)]
        for write in sequence:
            step = await db_session.begin_nested()
            try:
                await _apply(db_session, clients, write)
            except AppError:  # a duplicate month, a client already gone: nothing was written
                await step.rollback()
            else:
                await step.commit()
        assert await summaries_service.verify(db_session) == []
    finally:
        await example.rollback()
