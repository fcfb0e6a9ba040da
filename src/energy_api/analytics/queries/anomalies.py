"""anomalias: a page of the flagged months (`summaries.rule` judges them as they are written)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from sqlalchemy import Select, func, select

from energy_api.analytics.queries.common import (
    CLIENT,
    END,
    LIMIT,
    START,
    bound,
    client_name,
    in_range,
    optional,
    percent,
    required_cents,
    required_date,
)
from energy_api.db import Reader
from energy_api.summaries.models import FlaggedMonth, FlaggedMonthCount
from energy_api.summaries.rule import FLAGGED_COLUMNS


@dataclass(frozen=True, slots=True)
class AnomalyRow:
    client_id: int
    name: str
    month: date
    kwh: Decimal
    reference: Decimal
    deviation_pct: Decimal | None
    score: Decimal | None
    method: Literal["mad", "ano_anterior"]
    severity: Literal["alerta", "critica"]
    direction: Literal["alta", "baixa"]


async def anomalies(
    reader: Reader,
    *,
    client_id: int | None,
    start: date | None,
    end: date | None,
    limit: int,
) -> tuple[int, list[AnomalyRow]]:
    """Months far from the client's own recent history (robust z-score), or from a year before.

    Read from `flagged_months` (kept by every consumption write): the page is an index range
    in (month DESC, client_id) order stopped by LIMIT — for one client, a range of its primary
    key. The portfolio's total is a sum of `flagged_month_counts` over the months in range; one
    client's, a count of its range of the primary key.
    """
    statement = _anomalies(client_id is not None, start is not None, end is not None)
    params = bound(client_id=client_id, start=start, end=end, limit=limit)
    rows = await reader.all(statement, params)
    total = int(rows[0]["total"]) if rows else 0
    # Up to 1,000 rows: unpacked by position, which costs a fraction of lookups by name.
    return total, [
        AnomalyRow(
            client_id=client,
            name=name,
            month=required_date(month),
            kwh=required_cents(kwh),
            reference=required_cents(reference),
            deviation_pct=percent(deviation),
            score=percent(score),
            method=method,
            severity=severity,
            direction=direction,
        )
        for (
            client,
            month,
            kwh,
            reference,
            deviation,
            score,
            method,
            severity,
            direction,
            name,
            _,
        ) in (row.values() for row in rows)
    ]


@cache
def _anomalies(one_client: bool, has_start: bool, has_end: bool) -> Select[Any]:
    start, end = optional(has_start, START), optional(has_end, END)
    flagged = FlaggedMonth
    where = in_range(flagged.month, start, end)
    if one_client:
        where.append(flagged.client_id == CLIENT)
    newest_first = (flagged.month.desc(), flagged.client_id)
    page = (
        select(*(getattr(flagged, name) for name in FLAGGED_COLUMNS))
        .where(*where)
        .order_by(*newest_first)
        .limit(LIMIT)
        .subquery("page")
    )
    if one_client:
        total = select(func.count()).select_from(flagged).where(*where).scalar_subquery()
    else:
        counts = FlaggedMonthCount
        total = (
            select(func.coalesce(func.sum(counts.flagged), 0))
            .where(*in_range(counts.month, start, end))
            .scalar_subquery()
        )
    return select(page, client_name(page.c.client_id), total.label("total")).order_by(
        page.c.month.desc(), page.c.client_id
    )
