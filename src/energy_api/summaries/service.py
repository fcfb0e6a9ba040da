"""The summaries' public API: what consumptions and clients call around their writes, and what
ops call to check and repair (see `energy_api.summaries` for the locking protocol)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.observability.metrics import SUMMARIES_SECONDS
from energy_api.summaries import maintenance, rebuild
from energy_api.summaries.rebuild import Drift

__all__ = [
    "Drift",
    "changing",
    "forgetting_client",
    "rebuild_all",
    "rebuild_clients",
    "rebuild_portfolio",
    "verify",
]


@asynccontextmanager
async def changing(session: AsyncSession, scope: Iterable[tuple[int, date]]) -> AsyncIterator[None]:
    """Wrap a write of consumption records: `scope` is the (client id, month) keys at which a
    record may appear, disappear or change value. When the block ends without an error, every
    summary has changed by exactly what the block changed in those records.

    The caller holds the scope's client locks (`clients.service.lock`) before entering.
    """
    keys = sorted(set(scope))
    started = time.perf_counter()
    before = await maintenance.capture(session, keys)
    spent = time.perf_counter() - started
    yield
    started = time.perf_counter()
    after = await maintenance.capture(session, keys)
    await maintenance.apply(session, keys, before, after)
    SUMMARIES_SECONDS.observe(spent + time.perf_counter() - started)


@asynccontextmanager
async def forgetting_client(session: AsyncSession, client_id: int) -> AsyncIterator[None]:
    """Wrap the deletion of a client: its records leave the portfolio tables; its own summary
    rows go with it (ON DELETE CASCADE). The caller holds the client's exclusive lock."""
    started = time.perf_counter()
    keys = await maintenance.keys_of_client(session, client_id)
    before = await maintenance.capture(session, keys)
    flags = await maintenance.flag_counts_of(session, [client_id])
    spent = time.perf_counter() - started
    yield
    started = time.perf_counter()
    after = await maintenance.capture(session, keys)
    await maintenance.apply_removal(session, keys, before, after, flags)
    SUMMARIES_SECONDS.observe(spent + time.perf_counter() - started)


async def rebuild_all(session: AsyncSession) -> None:
    """Recompute every summary table from the consumptions; writers wait meanwhile."""
    await rebuild.rebuild_tables(session, (*rebuild.CLIENT_TABLES, *rebuild.SHARED_TABLES))


async def rebuild_portfolio(session: AsyncSession) -> None:
    """Recompute the portfolio tables (portfolio_months, portfolio_month_links) from the
    consumptions and flagged_month_counts from flagged_months; writers wait meanwhile."""
    await rebuild.rebuild_tables(session, rebuild.SHARED_TABLES)


async def rebuild_clients(session: AsyncSession, client_ids: Sequence[int]) -> None:
    """Recompute these clients' own summary rows; the caller holds their locks."""
    await rebuild.rebuild_clients(session, client_ids)


async def verify(session: AsyncSession, *, sample: int = 10) -> list[Drift]:
    """Every summary table that differs from a rebuild (empty: all exact). Run it in one
    snapshot (REPEATABLE READ) so that concurrent writes are seen whole or not at all."""
    return await rebuild.drift(session, sample=sample)
