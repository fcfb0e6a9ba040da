"""The anomaly rule: which client-months `anomalias` reports, and how strongly.

The one definition of the rule. For each record (month m, value x) the client's records in
m − 12 … m − 1 are its history. With at least `MAD_MIN_HISTORY` of them the record is judged by
its modified z-score against their median and median absolute deviation (MAD); with fewer, by
its ratio to the same month a year before. Thresholds, named below:

- modified z = `MODIFIED_Z_FACTOR` × (x − median) / MAD; |z| > `ALERT_Z` is an alert,
  > `CRITICAL_Z` critical;
- MAD = 0 (a flat history): |x − median| > `FLAT_ALERT_FRACTION` × median is an alert,
  ≥ `FLAT_CRITICAL_FRACTION` × median critical;
- a year before, y > 0: x ≥ `YEAR_ALERT_RATIO` × y or x ≤ y ÷ `YEAR_ALERT_RATIO` is an alert,
  with `YEAR_CRITICAL_RATIO` critical.

Units stay integers, so every threshold is an exact comparison on both backends: x and y in
cents, the median doubled (half-cents) and the MAD quadrupled (quarter-cents); e.g.
|0.6745 (x − med) / mad| > 3.5  ⇔  6745·|4x − 2·med₂| > 35000·mad₄.

A change to this rule changes stored data (`flagged_months`): it ships with a migration that
rebuilds the table (`energy-api summaries rebuild`), because the migration that first filled it
keeps the rule of its day.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import CTE

from energy_api.consumptions.models import Consumption
from energy_api.db.functions import BoundRows, add_months, cents, half_up_div, ratio_half_away
from energy_api.summaries.models import FlaggedMonth

HISTORY_MONTHS = 12  # the history of month m: m − 12 … m − 1
MAD_MIN_HISTORY = 6  # fewer values than this: judge against the same month a year before
YEAR_BEFORE_MONTHS = 12
MODIFIED_Z_FACTOR = Fraction("0.6745")  # Iglewicz and Hoaglin's modified z-score
ALERT_Z = Fraction("3.5")
CRITICAL_Z = Fraction(7)
FLAT_ALERT_FRACTION = Fraction(1, 2)
FLAT_CRITICAL_FRACTION = Fraction(1)
YEAR_ALERT_RATIO = 2
YEAR_CRITICAL_RATIO = 3
# A record at m is judged by m − 12 … m − 1 and is the year before of m + 12, so a change at m
# can alter the verdicts of m … m + JUDGED_AFTER_MONTHS.
JUDGED_AFTER_MONTHS = max(HISTORY_MONTHS, YEAR_BEFORE_MONTHS)
TRAILING_MONTHS = 12  # the window of client_trailing_years: m − 11 … m

# What a judgement covers: the records of given (client, first month, last month) ranges (a
# write's re-judgement), every record of given clients, or every record (rebuilds).
JudgedScope = Literal["ranges", "clients", "all"]
RANGES = BoundRows("judged_ranges", (("client_id", Integer()), ("first", Date()), ("last", Date())))
CLIENT_IDS = BoundRows("judged_clients", (("client_id", Integer()),))
FLAGGED_COLUMNS = (
    "client_id",
    "month",
    "kwh_cents",
    "reference_cents",
    "deviation_bp",
    "score_hundredths",
    "method",
    "severity",
    "direction",
)


def _z_exceeds(gap4: ColumnElement[Any], mad4: ColumnElement[Any], z: Fraction) -> Any:
    """|MODIFIED_Z_FACTOR × gap4 ÷ mad4| > z, in integers (gap and MAD in quarter-cents)."""
    factor = MODIFIED_Z_FACTOR * 10_000
    threshold = z * 10_000
    assert factor.denominator == 1 and threshold.denominator == 1
    return int(factor) * func.abs(gap4) > int(threshold) * mad4


def _far_from_flat(gap2: ColumnElement[Any], med2: ColumnElement[Any], fraction: Fraction) -> Any:
    """|x − med| > fraction × med, in integers (both doubled)."""
    return fraction.denominator * gap2 > fraction.numerator * med2


def _at_least(gap2: ColumnElement[Any], med2: ColumnElement[Any], fraction: Fraction) -> Any:
    """|x − med| ≥ fraction × med, in integers (both doubled)."""
    return fraction.denominator * gap2 >= fraction.numerator * med2


def _doubled_median(dialect: str, name: str, source: CTE, value: ColumnElement[Any]) -> CTE:
    """Per (client_id, month) of `source`: n values and 2 × their median (an exact integer).

    PostgreSQL has percentile_cont (2 × the midpoint of two integers is exact in float8);
    SQLite has no median, so the middle row(s) are found with ROW_NUMBER and COUNT windows.
    """
    keys = (source.c.client_id, source.c.month)
    if dialect == "postgresql":
        return (
            select(
                *keys,
                func.count().label("n"),
                cast(func.percentile_cont(0.5).within_group(value) * 2, BigInteger).label("m2"),
            )
            .group_by(*keys)
            .cte(name)
        )
    ranked = select(
        *keys,
        value.label("v"),
        func.row_number().over(partition_by=keys, order_by=value).label("rn"),
        func.count().over(partition_by=keys).label("n"),
    ).subquery(f"{name}_ranked")
    n, rn = ranked.c.n, ranked.c.rn
    middle = or_(rn == (n + 1) // 2, rn == (n + 2) // 2)  # one row when n is odd, two if even
    return (
        select(
            ranked.c.client_id,
            ranked.c.month,
            func.max(n).label("n"),
            (func.sum(case((middle, ranked.c.v), else_=0)) * (literal(1) + func.max(n) % 2)).label(
                "m2"
            ),
        )
        .group_by(ranked.c.client_id, ranked.c.month)
        .cte(name)
    )


def _targets(scope: JudgedScope, dialect: str) -> CTE:
    """(client_id, month, x) of the records whose verdicts are computed."""
    records = select(Consumption.client_id, Consumption.month, cents(Consumption.kwh).label("x"))
    if scope == "ranges":
        ranges = RANGES.table(dialect)
        records = records.join(
            ranges,
            and_(
                ranges.c.client_id == Consumption.client_id,
                Consumption.month >= ranges.c.first,
                Consumption.month <= ranges.c.last,
            ),
        )
    elif scope == "clients":
        clients = CLIENT_IDS.table(dialect)
        records = records.where(Consumption.client_id.in_(select(clients.c.client_id)))
    return records.cte("targets")


def judged_months(dialect: str, scope: JudgedScope) -> Select[Any]:
    """The flagged months among the records in scope, as `flagged_months` rows."""
    targets = _targets(scope, dialect)
    earlier = aliased(Consumption, name="earlier")
    history = (
        select(targets.c.client_id, targets.c.month, cents(earlier.kwh).label("v"))
        .join(
            earlier,
            and_(
                earlier.client_id == targets.c.client_id,
                earlier.month >= add_months(targets.c.month, -HISTORY_MONTHS),
                earlier.month < targets.c.month,
            ),
        )
        .cte("history")
    )
    medians = _doubled_median(dialect, "medians", history, history.c.v)
    deviations = (
        select(
            history.c.client_id,
            history.c.month,
            func.abs(literal(2) * history.c.v - medians.c.m2).label("d"),
        )
        .join(
            medians,
            and_(medians.c.client_id == history.c.client_id, medians.c.month == history.c.month),
        )
        .where(medians.c.n >= MAD_MIN_HISTORY)
        .cte("deviations")
    )
    mads = _doubled_median(
        dialect, "mads", deviations, deviations.c.d
    )  # m2 here is 4 × MAD in cents
    year_before = aliased(Consumption, name="year_before")
    joined = (
        select(
            targets.c.client_id,
            targets.c.month,
            targets.c.x,
            medians.c.n,
            medians.c.m2.label("med2"),
            mads.c.m2.label("mad4"),
            cents(year_before.kwh).label("y"),
        )
        .outerjoin(
            medians,
            and_(medians.c.client_id == targets.c.client_id, medians.c.month == targets.c.month),
        )
        .outerjoin(
            mads, and_(mads.c.client_id == targets.c.client_id, mads.c.month == targets.c.month)
        )
        .outerjoin(
            year_before,
            and_(
                year_before.client_id == targets.c.client_id,
                year_before.month == add_months(targets.c.month, -YEAR_BEFORE_MONTHS),
            ),
        )
        .subquery("joined")
    )
    x, med2, mad4, y = joined.c.x, joined.c.med2, joined.c.mad4, joined.c.y
    use_mad = joined.c.n >= MAD_MIN_HISTORY
    use_year = and_(or_(joined.c.n.is_(None), joined.c.n < MAD_MIN_HISTORY), y > 0)
    gap4 = literal(4) * x - literal(2) * med2  # x − med in quarter-cents
    gap2 = func.abs(literal(2) * x - med2)  # |x − med| in half-cents
    moved = {
        ratio: or_(x >= ratio * y, ratio * x <= y)
        for ratio in (YEAR_ALERT_RATIO, YEAR_CRITICAL_RATIO)
    }
    flat_alert = and_(use_mad, mad4 == 0, _far_from_flat(gap2, med2, FLAT_ALERT_FRACTION))
    flat_critical = and_(flat_alert, _at_least(gap2, med2, FLAT_CRITICAL_FRACTION))
    severity = case(
        (and_(use_mad, mad4 > 0, _z_exceeds(gap4, mad4, CRITICAL_Z)), literal("critica")),
        (and_(use_mad, mad4 > 0, _z_exceeds(gap4, mad4, ALERT_Z)), literal("alerta")),
        (flat_critical, literal("critica")),
        (flat_alert, literal("alerta")),
        (and_(use_year, moved[YEAR_CRITICAL_RATIO]), literal("critica")),
        (and_(use_year, moved[YEAR_ALERT_RATIO]), literal("alerta")),
        else_=null(),
    )
    score_factor = MODIFIED_Z_FACTOR * 100  # score in hundredths: 100 × z
    reference2 = case((use_mad, med2), else_=literal(2) * y)  # half-cents
    return select(
        joined.c.client_id,
        joined.c.month,
        x.label("kwh_cents"),
        half_up_div(reference2, literal(2)).label("reference_cents"),
        ratio_half_away(literal(2) * x - reference2, reference2, 10_000).label("deviation_bp"),
        case(
            (
                and_(use_mad, mad4 > 0),
                ratio_half_away(score_factor.numerator * gap4, score_factor.denominator * mad4),
            ),
            else_=null(),
        ).label("score_hundredths"),
        case((use_mad, literal("mad")), else_=literal("ano_anterior")).label("method"),
        severity.label("severity"),
        case((literal(2) * x > reference2, literal("alta")), else_=literal("baixa")).label(
            "direction"
        ),
    ).where(severity.is_not(None))


@cache
def judge_months(dialect: str, scope: JudgedScope) -> Insert:
    """INSERT the flagged months among the records in scope into `flagged_months`; the caller
    first deletes the rows it replaces."""
    return insert(FlaggedMonth).from_select(list(FLAGGED_COLUMNS), judged_months(dialect, scope))
