"""SQL building blocks that PostgreSQL and SQLite spell differently, and exact rounding.

Each construct compiles to the dialect's own syntax, so one statement runs on both backends.
Months are compared as dates (index-friendly) and shifted with `add_months`; window frames over
calendar months order by `month_index` (year·12 + month − 1), so "the previous month" is always
`mes − 1 month`, never the previous row.

`BoundRows` sends a whole set of rows as one statement parameter (arrays unnested on PostgreSQL,
a JSON array on SQLite), so set-based statements take any number of rows without one bound
parameter per value.

Amounts are whole cents (BIGINT). Divisions that must be rounded are done on integers,
`ratio_half_away`, exactly on both backends: PostgreSQL computes them on NUMERIC (no overflow),
SQLite on 64-bit integers (exact while intermediate products stay below 9.2·10¹⁸).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Integer,
    Numeric,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    null,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Subquery
from sqlalchemy.types import TypeEngine


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


class _ShiftMonths(FunctionElement[Any]):
    """Arguments: a first-of-month date and an integer expression of months."""

    type = Date()
    inherit_cache = True


def shift_months(value: Any, months: Any) -> ColumnElement[Any]:
    """`value` moved by `months` calendar months, where `months` is a column or expression
    (`add_months` takes a constant)."""
    return _ShiftMonths(value, months)


@compiles(_ShiftMonths, "postgresql")
def _shift_months_pg(element: _ShiftMonths, compiler: SQLCompiler, **kw: Any) -> str:
    value, months = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(({value}) + ({months}) * INTERVAL '1 month' AS DATE)"


@compiles(_ShiftMonths, "sqlite")
def _shift_months_sqlite(element: _ShiftMonths, compiler: SQLCompiler, **kw: Any) -> str:
    value, months = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({value}, printf('%+d months', {months}))"


def cents(value: Any) -> ColumnElement[int]:
    """A kWh value as whole cents (exact on NUMERIC and on SQLite's REAL alike)."""
    return cast(func.round(value * literal_column("100")), BigInteger)


def mean_half_up(values: Any) -> ColumnElement[Any]:
    """The mean of kWh values in whole cents, rounded half-up, by integer arithmetic.

    floor((2·Σcents + n) / 2n) is the half-up rounding of Σcents / n for non-negative values;
    both PostgreSQL and SQLite divide integers exactly like this, so the dialects agree.
    """
    total = sum_cents(values)  # exact Σ of cents on both dialects, as BIGINT
    count = func.count(values)
    return (literal_column("2") * total + count) // (literal_column("2") * count)


_PG_ARRAY_TYPES = {
    "INTEGER": "INTEGER[]",
    "BIGINT": "BIGINT[]",
    "DATE": "DATE[]",
    "NUMERIC(10, 2)": "NUMERIC(10, 2)[]",
    "DATETIME": "TIMESTAMP WITH TIME ZONE[]",
    "VARCHAR": "TEXT[]",
}


@dataclass(frozen=True)
class BoundRows:
    """A set of rows bound as one parameter and read as a table named `name`.

    PostgreSQL gets one array per column, unnested together; SQLite one JSON array of rows,
    read with json_each (dates travel as ISO text, which is how SQLite stores them). A million
    rows cost one parameter each way, never a million placeholders.
    """

    name: str
    columns: tuple[tuple[str, TypeEngine[Any]], ...]

    def table(self, dialect: str) -> Subquery:
        return _bound_rows_table(self, dialect)

    def params(self, dialect: str, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
        if dialect == "postgresql":
            return {
                f"{self.name}_{index}": [row[index] for row in rows]
                for index in range(len(self.columns))
            }
        return {self.name: json.dumps([list(row) for row in rows], default=str)}


@cache
def _bound_rows_table(rows: BoundRows, dialect: str) -> Subquery:
    names = [name for name, _ in rows.columns]
    typed = [column(name, type_) for name, type_ in rows.columns]
    if dialect == "postgresql":
        arrays = ", ".join(
            f"CAST(:{rows.name}_{index} AS {_PG_ARRAY_TYPES[str(type_.compile())]})"
            for index, (_, type_) in enumerate(rows.columns)
        )
        columns = ", ".join(names)
        sql = f"SELECT * FROM unnest({arrays}) AS {rows.name}_rows({columns})"  # noqa: S608
    else:
        picks = ", ".join(
            f"json_extract(value, '$[{index}]') AS {name}" for index, name in enumerate(names)
        )
        sql = f"SELECT {picks} FROM json_each(:{rows.name})"  # noqa: S608 - names are constants
    return text(sql).columns(*typed).subquery(rows.name)


class unicode_ilike(FunctionElement[bool]):
    """`value ILIKE pattern ESCAPE '\\'`, ignoring case for every letter, not just ASCII.

    PostgreSQL's ILIKE folds case by the database's locale; SQLite's LIKE folds ASCII only, so
    there both sides go through `casefold`, a function each SQLite connection registers
    (`energy_api.db.engine`).
    """

    type = Boolean()
    inherit_cache = True


@compiles(unicode_ilike, "postgresql")
def _unicode_ilike_pg(element: unicode_ilike, compiler: SQLCompiler, **kw: Any) -> str:
    value, pattern = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({value} ILIKE {pattern} ESCAPE '\\')"


@compiles(unicode_ilike, "sqlite")
def _unicode_ilike_sqlite(element: unicode_ilike, compiler: SQLCompiler, **kw: Any) -> str:
    value, pattern = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(casefold({value}) LIKE casefold({pattern}) ESCAPE '\\')"
