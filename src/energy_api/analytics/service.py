"""Analytics rules: ranges, required clients, and the shape of each answer.

The numbers themselves come from `analytics.queries`, computed by the database.
"""

from __future__ import annotations

from datetime import date

from energy_api import months
from energy_api.analytics.queries import anomalies as anomaly_queries
from energy_api.analytics.queries import growth as growth_queries
from energy_api.analytics.queries import mean as mean_queries
from energy_api.analytics.queries import ranking as ranking_queries
from energy_api.analytics.queries import series as series_queries
from energy_api.analytics.queries import summary as summary_queries
from energy_api.analytics.queries import trend as trend_queries
from energy_api.analytics.queries.common import client_exists
from energy_api.analytics.queries.series import MONTHS_PER_PERIOD, PeriodKind
from energy_api.analytics.schemas import (
    Anomalies,
    Anomaly,
    Grouping,
    Growth,
    MeanConsumption,
    MonthlySeries,
    Ranking,
    RankingItem,
    SeriesPoint,
    Summary,
    Trend,
)
from energy_api.db import Reader
from energy_api.errors import InvalidInput, NotFound

MAX_RANGE_MONTHS = 240
PERIOD_KINDS: dict[Grouping, PeriodKind] = {"mes": "month", "trimestre": "quarter", "ano": "year"}
PERIOD_NAMES: dict[Grouping, str] = {"trimestre": "quarter", "ano": "year"}


def _client_not_found(client_id: int) -> NotFound:
    return NotFound(f"Client {client_id} not found")


def _no_records(client_id: int) -> NotFound:
    return NotFound(f"Client {client_id} has no consumption records")


def check_range(start: date | None, end: date | None) -> None:
    """`de` not after `ate`, and at most 240 months from one to the other (inclusive)."""
    if start is None or end is None:
        return
    if start > end:
        raise InvalidInput("de", "must not be after ate")
    if months.span(start, end) > MAX_RANGE_MONTHS:
        raise InvalidInput("ate", f"the range must not exceed {MAX_RANGE_MONTHS} months")


def _label(month: date | None) -> str | None:
    return None if month is None else months.label(month)


def _period_label(period: int, grouping: Grouping) -> str:
    return months.period_label(period, MONTHS_PER_PERIOD[PERIOD_KINDS[grouping]])


async def _require_client(reader: Reader, client_id: int | None) -> None:
    if client_id is not None and not await client_exists(reader, client_id):
        raise _client_not_found(client_id)


async def mean_consumption(reader: Reader, client_id: int) -> MeanConsumption:
    row = await mean_queries.mean_and_latest(reader, client_id)
    if not row.client_exists:
        raise _client_not_found(client_id)
    if row.months == 0 or row.mean is None or row.latest_kwh is None or row.latest_month is None:
        raise _no_records(client_id)
    return MeanConsumption(
        cliente_id=client_id,
        media=row.mean,
        ultimo_consumo=row.latest_kwh,
        ultimo_mes=row.latest_month,
        meses=row.months,
    )


async def summary(
    reader: Reader, client_id: int | None, start: date | None, end: date | None
) -> Summary:
    check_range(start, end)
    if client_id is None:
        row = await summary_queries.portfolio_summary(reader, start, end)
    else:
        await _require_client(reader, client_id)
        row = await summary_queries.client_summary(reader, client_id, start, end)
    return Summary(
        de=_label(start or row.first_month),
        ate=_label(end or row.last_month),
        clientes=row.clients,
        meses=row.months,
        total_kwh=row.total,
        media_kwh=row.mean,
        min_kwh=row.minimum,
        max_kwh=row.maximum,
        kwh_por_dia=row.per_day,
    )


def _check_alignment(grouping: Grouping, start: date | None, end: date | None) -> None:
    """With quarters or years, `de`/`ate` must start/end one, so no period is cut short."""
    span = MONTHS_PER_PERIOD[PERIOD_KINDS[grouping]]
    if span == 1:
        return
    name = PERIOD_NAMES[grouping]
    if start is not None and (start.month - 1) % span != 0:
        raise InvalidInput("de", f"must be the first month of a {name} when agrupar={grouping}")
    if end is not None and end.month % span != 0:
        raise InvalidInput("ate", f"must be the last month of a {name} when agrupar={grouping}")


async def series(
    reader: Reader,
    client_id: int | None,
    grouping: Grouping,
    start: date | None,
    end: date | None,
) -> MonthlySeries:
    check_range(start, end)
    _check_alignment(grouping, start, end)
    await _require_client(reader, client_id)
    rows = await series_queries.series(
        reader, client_id=client_id, kind=PERIOD_KINDS[grouping], start=start, end=end
    )
    return MonthlySeries(
        cliente_id=client_id,
        agrupar=grouping,
        pontos=[
            SeriesPoint(
                periodo=_period_label(row.period, grouping),
                total_kwh=row.total,
                clientes=row.clients,
                kwh_por_dia=row.per_day,
                variacao_pct=row.change_pct,
                variacao_anual_pct=row.yearly_change_pct,
                media_movel_3=row.moving_3,
                media_movel_12=row.moving_12,
            )
            for row in rows
        ],
    )


async def growth(reader: Reader, client_id: int, start: date | None, end: date | None) -> Growth:
    check_range(start, end)
    row = await growth_queries.growth(reader, client_id, start, end)
    if not row.client_exists:
        raise _client_not_found(client_id)
    if row.month is None or row.kwh is None:
        raise _no_records(client_id)
    return Growth(
        cliente_id=client_id,
        mes=row.month,
        consumo_kwh=row.kwh,
        mes_anterior_kwh=row.previous,
        variacao_mensal_pct=row.change_pct,
        mesmo_mes_ano_anterior_kwh=row.year_before,
        variacao_anual_pct=row.yearly_change_pct,
    )


async def ranking(reader: Reader, start: date | None, end: date | None, limit: int) -> Ranking:
    check_range(start, end)
    result = await ranking_queries.ranking(reader, start, end, limit)
    return Ranking(
        de=_label(start or result.first_month),
        ate=_label(end or result.last_month),
        itens=[
            RankingItem(
                posicao=item.position,
                cliente_id=item.client_id,
                nome=item.name,
                total_kwh=item.total,
                media_kwh=item.mean,
                meses=item.months,
            )
            for item in result.items
        ],
    )


async def trend(
    reader: Reader, client_id: int, months: int, start: date | None, end: date | None
) -> Trend:
    check_range(start, end)
    row = await trend_queries.trend(reader, client_id, months, start, end)
    if not row.client_exists:
        raise _client_not_found(client_id)
    return Trend(
        cliente_id=client_id,
        meses=months,
        pontos=row.points,
        inclinacao_kwh_mes=row.slope,
        variacao_pct_ano=row.yearly_pct,
    )


async def anomalies(
    reader: Reader,
    client_id: int | None,
    start: date | None,
    end: date | None,
    limit: int,
) -> Anomalies:
    check_range(start, end)
    await _require_client(reader, client_id)
    total, rows = await anomaly_queries.anomalies(
        reader, client_id=client_id, start=start, end=end, limit=limit
    )
    return Anomalies(
        total=total,
        itens=[
            Anomaly(
                cliente_id=row.client_id,
                nome=row.name,
                mes=row.month,
                consumo_kwh=row.kwh,
                referencia_kwh=row.reference,
                desvio_pct=row.deviation_pct,
                score=row.score,
                metodo=row.method,
                severidade=row.severity,
                direcao=row.direction,
            )
            for row in rows
        ],
    )
