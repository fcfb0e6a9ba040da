"""SQL building blocks that PostgreSQL and SQLite spell differently, and exact rounding.

Each construct compiles to the dialect's own syntax, so one statement runs on both backends.
Months are compared as dates (index-friendly) and shifted with `add_months`; window frames over
calendar months order by `month_index` (year·12 + month − 1), so "the previous month" is always
`mes − 1 month`, never the previous row.

Amounts are whole cents (BIGINT). Divisions that must be rounded are done on integers,
`ratio_half_away`, exactly on both backends: PostgreSQL computes them on NUMERIC (no overflow),
SQLite on 64-bit integers (exact while intermediate products stay below 9.2·10¹⁸).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Numeric,
    case,
    cast,
    literal,
    literal_column,
    null,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class month_index(FunctionElement[int]):
    """year × 12 + month − 1 of a date: consecutive calendar months are consecutive integers."""

    type = Integer()
    inherit_cache = True


@compiles(month_index, "postgresql")
def _month_index_pg(element: month_index, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = element.clauses
    arg = compiler.process(value, **kw)
    return (
        f"(CAST(date_part('year', {arg}) AS INTEGER) * 12"
        f" + CAST(date_part('month', {arg}) AS INTEGER) - 1)"
    )


@compiles(month_index, "sqlite")
def _month_index_sqlite(element: month_index, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = element.clauses
    arg = compiler.process(value, **kw)  # stored as 'YYYY-MM-DD'
    return f"(CAST(substr({arg}, 1, 4) AS INTEGER) * 12 + CAST(substr({arg}, 6, 2) AS INTEGER) - 1)"


class _AddMonths(FunctionElement[Any]):
    """Arguments: the date, and the month count as a literal (part of the statement cache key)."""

    type = Date()
    inherit_cache = True


def add_months(value: Any, months: int) -> ColumnElement[Any]:
    """The first-of-month date `months` calendar months after `value` (negative: before)."""
    return _AddMonths(value, literal_column(str(int(months))))


def _date_and_months(element: _AddMonths, compiler: SQLCompiler, **kw: Any) -> tuple[str, int]:
    value, months = element.clauses
    return compiler.process(value, **kw), int(compiler.process(months, **kw))


@compiles(_AddMonths, "postgresql")
def _add_months_pg(element: _AddMonths, compiler: SQLCompiler, **kw: Any) -> str:
    value, months = _date_and_months(element, compiler, **kw)
    return f"CAST(({value}) + INTERVAL '{months} months' AS DATE)"


@compiles(_AddMonths, "sqlite")
def _add_months_sqlite(element: _AddMonths, compiler: SQLCompiler, **kw: Any) -> str:
    value, months = _date_and_months(element, compiler, **kw)
    return f"date({value}, '{months:+d} months')"


class days_in_month(FunctionElement[int]):
    """The number of days of the calendar month that starts at a first-of-month date."""

    type = Integer()
    inherit_cache = True


@compiles(days_in_month, "postgresql")
def _days_in_month_pg(element: days_in_month, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = element.clauses
    arg = compiler.process(value, **kw)
    return f"(CAST(({arg}) + INTERVAL '1 month' AS DATE) - ({arg}))"


@compiles(days_in_month, "sqlite")
def _days_in_month_sqlite(element: days_in_month, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = element.clauses
    arg = compiler.process(value, **kw)
    return f"CAST(julianday({arg}, '+1 month') - julianday({arg}) AS INTEGER)"


class sum_cents(FunctionElement[int]):
    """Σ of kWh values as whole cents, exact on both backends.

    PostgreSQL sums NUMERIC exactly, then scales once; SQLite stores REAL, so each value is
    rounded to its cents before the integer sum.
    """

    type = BigInteger()
    inherit_cache = True


@compiles(sum_cents, "postgresql")
def _sum_cents_pg(element: sum_cents, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = element.clauses
    return f"CAST(sum({compiler.process(value, **kw)}) * 100 AS BIGINT)"


@compiles(sum_cents, "sqlite")
def _sum_cents_sqlite(element: sum_cents, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = element.clauses
    return f"sum(CAST(round(({compiler.process(value, **kw)}) * 100) AS INTEGER))"


class exact(FunctionElement[Any]):
    """An integer expression in a type that does not overflow: NUMERIC on PostgreSQL."""

    type = Numeric()
    inherit_cache = True


@compiles(exact, "postgresql")
def _exact_pg(element: exact, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = element.clauses
    return f"CAST({compiler.process(value, **kw)} AS NUMERIC)"


@compiles(exact, "sqlite")
def _exact_sqlite(element: exact, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = element.clauses
    return f"({compiler.process(value, **kw)})"


class int_div(FunctionElement[Any]):
    """Integer quotient of two non-negative integers (truncation equals floor)."""

    type = Numeric()
    inherit_cache = True


@compiles(int_div, "postgresql")
def _int_div_pg(element: int_div, compiler: SQLCompiler, **kw: Any) -> str:
    numerator, denominator = element.clauses
    return f"div({compiler.process(numerator, **kw)}, {compiler.process(denominator, **kw)})"


@compiles(int_div, "sqlite")
def _int_div_sqlite(element: int_div, compiler: SQLCompiler, **kw: Any) -> str:
    numerator, denominator = element.clauses
    return f"(({compiler.process(numerator, **kw)}) / ({compiler.process(denominator, **kw)}))"


def ratio_half_away(
    numerator: ColumnElement[Any], denominator: ColumnElement[Any], scale: int = 1
) -> ColumnElement[Any]:
    """round(numerator × scale ÷ denominator) to an integer, halves away from zero, exactly.

    NULL when the denominator is NULL or 0. The denominator must not be negative. For
    non-negative values this is half-up; for negative ones it mirrors them (−0.125 → −0.13),
    which is what PostgreSQL's numeric round() and Python's ROUND_HALF_UP do.
    """
    num = exact(numerator) * literal(scale)
    den = exact(denominator)
    two = literal(2)
    rounded = case(
        (denominator.is_(None) | (denominator == 0), null()),
        (numerator >= 0, int_div(two * num + den, two * den)),
        else_=-int_div(two * -num + den, two * den),
    )
    return cast(rounded, BigInteger)  # an int8 on the wire, not a NUMERIC to parse


def half_up_div(
    numerator: ColumnElement[Any], denominator: ColumnElement[Any]
) -> ColumnElement[Any]:
    """round(numerator ÷ denominator) half-up for non-negative integers; NULL when ÷ 0."""
    return ratio_half_away(numerator, denominator)
