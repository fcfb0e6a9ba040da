from __future__ import annotations

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.consumptions.models import Consumption
from energy_api.summaries.models import (
    ClientTotal,
    ClientTrailingYear,
    FlaggedMonth,
    FlaggedMonthCount,
    PortfolioMonth,
    PortfolioMonthLink,
)


@pytest.fixture
async def empty_portfolio(db_session: AsyncSession) -> None:
    """No consumption at all, inside the test's transaction (rolled back afterwards).

    Portfolio-wide answers cover every client, so tests of them start from nothing, whatever
    other tests may have committed to the shared test database.
    """
    await db_session.execute(delete(Consumption))
    await db_session.execute(delete(PortfolioMonthLink))
    await db_session.execute(delete(PortfolioMonth))
    await db_session.execute(delete(ClientTotal))
    await db_session.execute(delete(ClientTrailingYear))
    await db_session.execute(delete(FlaggedMonth))
    await db_session.execute(delete(FlaggedMonthCount))
