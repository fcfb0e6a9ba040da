"""Analytics answers recomputed in Python from the raw records, to compare with the API's.

Only the records are read (SELECT client_id, month, kWh); every figure is then computed here,
independently of the summary tables and of the SQL the service runs, except the anomaly rule,
whose one definition (`summaries.rule`) is run directly over the records.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api import months
from energy_api.consumptions.models import Consumption
from energy_api.summaries.rule import judged_months


@dataclass(frozen=True)
class Record:
    client_id: int
    month: date
    cents: int


async def records(session: AsyncSession) -> list[Record]:
    rows = await session.execute(
        select(Consumption.client_id, Consumption.month, Consumption.kwh).order_by(
            Consumption.client_id, Consumption.month
        )
    )
    return [Record(client, month, round(kwh * 100)) for client, month, kwh in rows]


def half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def kwh(cents: int) -> float:
    return cents / 100


def days(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def summary(rows: list[Record]) -> dict[str, Any]:
    """`resumo` of the whole portfolio over all months."""
    if not rows:
        return {"clientes": 0, "meses": 0, "total_kwh": 0.0}
    total = sum(r.cents for r in rows)
    distinct_months = {r.month for r in rows}
    return {
        "de": months.label(min(distinct_months)),
        "ate": months.label(max(distinct_months)),
        "clientes": len({r.client_id for r in rows}),
        "meses": len(distinct_months),
        "total_kwh": kwh(total),
        "media_kwh": kwh(half_up(total, len(rows))),
        "min_kwh": kwh(min(r.cents for r in rows)),
        "max_kwh": kwh(max(r.cents for r in rows)),
        "kwh_por_dia": kwh(half_up(total, sum(days(m) for m in distinct_months))),
    }


def ranking(rows: list[Record], first: date | None, last: date | None) -> list[dict[str, Any]]:
    """`ranking` items (all of them) over [first, last] (None: unbounded)."""
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if (first is None or r.month >= first) and (last is None or r.month <= last):
            totals[r.client_id][0] += r.cents
            totals[r.client_id][1] += 1
    ordered = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    return [
        {
            "posicao": 1 + sum(1 for _, (other, _) in ordered if other > total),
            "cliente_id": client_id,
            "total_kwh": kwh(total),
            "media_kwh": kwh(half_up(total, count)),
            "meses": count,
        }
        for client_id, (total, count) in ordered
    ]


def series(rows: list[Record], span: int) -> list[dict[str, Any]]:
    """`serie-mensal` points (period label, total, distinct clients, kWh per day) by periods of
    `span` months."""
    periods: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"total": 0, "clients": set(), "months": set()}
    )
    for r in rows:
        period = periods[months.index(r.month) // span]
        period["total"] += r.cents
        period["clients"].add(r.client_id)
        period["months"].add(r.month)
    return [
        {
            "periodo": months.period_label(number, span),
            "total_kwh": kwh(p["total"]),
            "clientes": len(p["clients"]),
            "kwh_por_dia": kwh(half_up(p["total"], sum(days(m) for m in p["months"]))),
        }
        for number, p in sorted(periods.items())
    ]


async def flagged(session: AsyncSession) -> list[tuple[int, str, str]]:
    """(client, month, severity) of every flagged month, by the rule run over the records,
    newest month first (the order of `anomalias`)."""
    dialect = session.get_bind().dialect.name
    rule = judged_months(dialect, "all").subquery()
    rows = await session.execute(select(rule.c.client_id, rule.c.month, rule.c.severity))
    found = [(int(c), date.fromisoformat(str(m)).isoformat(), s) for c, m, s in rows]
    return sorted(found, key=lambda row: (-months.index(date.fromisoformat(row[1])), row[0]))
