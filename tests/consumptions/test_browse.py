"""Browsing records (the admin's lists): orders that are unique keys, so pages never overlap
and never skip; kWh sorting only where it stays cheap; a bounded count."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.consumptions import service
from energy_api.errors import InvalidInput
from tests.factories import create_client, create_consumption

# (client index, month, kWh): ties on month and on kWh, so only the tie-breaks order them.
RECORDS = [
    (0, "2025-01", "10"),
    (1, "2025-01", "10"),
    (2, "2025-01", "5"),
    (0, "2025-02", "7"),
    (1, "2025-02", "7"),
    (2, "2025-03", "10"),
    (0, "2025-04", "1"),
]


@pytest.fixture
async def search(db_session: AsyncSession) -> str:
    """Three clients named with a marker of this test, and their records; the marker."""
    marker = f"Navegar {uuid.uuid4().hex[:8]}"
    clients = [await create_client(db_session, nome=f"{marker} {n}") for n in range(3)]
    for index, month, kwh in RECORDS:
        await create_consumption(db_session, clients[index], month, kwh)
    return marker


async def browse_all(
    session: AsyncSession,
    marker: str,
    order: str,
    *,
    descending: bool,
    limit: int = 2,
    **filters: date,
) -> list[tuple[date, Decimal, int]]:
    """Every page in turn, as (month, kWh, client id)."""
    seen: list[tuple[date, Decimal, int]] = []
    while True:
        page = await service.browse(
            session,
            client_id=None,
            start=filters.get("start"),
            end=filters.get("end"),
            client_search=marker,
            order=order,
            descending=descending,
            limit=limit,
            offset=len(seen),
        )
        assert page.order == order
        seen.extend((c.month, c.kwh, c.client_id) for c, _ in page.rows)
        if len(page.rows) < limit:
            return seen


@pytest.mark.parametrize("descending", [True, False])
async def test_month_order_is_month_then_kwh_then_client_and_pages_cover_each_record_once(
    db_session: AsyncSession, search: str, descending: bool
) -> None:
    seen = await browse_all(db_session, search, "month", descending=descending)
    assert len(seen) == len(RECORDS)
    assert len(set(seen)) == len(RECORDS)
    assert seen == sorted(seen, reverse=descending)


async def test_kwh_order_within_a_quarter_is_kwh_then_id(
    db_session: AsyncSession, search: str
) -> None:
    seen = await browse_all(
        db_session, search, "kwh", descending=True, start=date(2025, 1, 1), end=date(2025, 3, 1)
    )
    assert [kwh for _, kwh, _ in seen] == sorted((kwh for _, kwh, _ in seen), reverse=True)
    assert len(set(seen)) == len(seen) == 6  # April is out of range


@pytest.mark.parametrize(
    ("client", "start", "end", "allowed"),
    [
        (None, None, None, False),  # the whole table
        (None, date(2025, 1, 1), None, False),  # open-ended
        (None, date(2025, 1, 1), date(2025, 3, 1), True),  # a quarter
        (None, date(2025, 1, 1), date(2025, 4, 1), False),  # more than a quarter
        (7, None, None, True),  # one client, any range
    ],
)
def test_kwh_sorting_is_offered_for_one_client_or_at_most_a_quarter(
    client: int | None, start: date | None, end: date | None, allowed: bool
) -> None:
    assert service.kwh_sort_allowed(client, start, end) is allowed


async def test_kwh_sorting_where_it_is_not_offered_falls_back_to_month(
    db_session: AsyncSession, search: str
) -> None:
    page = await service.browse(
        db_session,
        client_id=None,
        start=None,
        end=None,
        client_search=search,
        order="kwh",
        descending=True,
        limit=10,
        offset=0,
    )
    assert page.order == "month"
    assert page.rows[0][0].month == date(2025, 4, 1)


async def test_the_count_is_bounded(
    db_session: AsyncSession, search: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BROWSE_COUNT_CAP", 3)
    page = await service.browse(
        db_session,
        client_id=None,
        start=None,
        end=None,
        client_search=search,
        order="id",
        descending=False,
        limit=2,
        offset=0,
    )
    assert (page.total, page.capped, len(page.rows)) == (3, True, 2)


async def test_a_range_that_ends_before_it_starts_is_refused(db_session: AsyncSession) -> None:
    with pytest.raises(InvalidInput):
        await service.browse(
            db_session,
            client_id=None,
            start=date(2025, 5, 1),
            end=date(2025, 4, 1),
            client_search=None,
            order="id",
            descending=False,
            limit=2,
            offset=0,
        )
