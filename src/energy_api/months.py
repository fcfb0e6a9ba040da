"""The one month type of the service: calendar months as first-of-month dates.

Everything that parses, prints, shifts or numbers a month comes from here: the wire schemas, the
analytics, the summaries, the command line and the benchmark generator.

The service accepts months from `FIRST_MONTH` to `LAST_MONTH` (1900-01 … 2199-12). The bounds
leave room on both sides for the arithmetic the analytics do (a year back, a year ahead), so
every month inside the range works end to end on both backends, and they are enforced at the
edge: a body field or query parameter outside them is a 422 that names it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

FIRST_YEAR = 1900
LAST_YEAR = 2199
FIRST_MONTH = date(FIRST_YEAR, 1, 1)
LAST_MONTH = date(LAST_YEAR, 12, 1)
RANGE_TEXT = f"{FIRST_YEAR}-01 … {LAST_YEAR}-12"

# The years the service accepts, spelled for JSON Schema (ECMA-262) and Python alike.
_YEAR = r"(?:19\d{2}|2[01]\d{2})"
_MONTH = r"(?:0[1-9]|1[0-2])"
# `YYYY-MM` or `YYYY-MM-01` (bodies); `YYYY-MM` (query parameters).
PATTERN = rf"^{_YEAR}-{_MONTH}(?:-01)?$"
MONTH_ONLY_PATTERN = rf"^{_YEAR}-{_MONTH}$"

_SHAPE = re.compile(r"^(?P<y>\d{4})-(?P<m>\d{2})(?:-(?P<d>\d{2}))?$")


def parse(value: Any, *, allow_day: bool = True) -> date:
    """`YYYY-MM` or `YYYY-MM-01` → the first day of that month; anything else is refused
    with a `ValueError` that says why (the schemas turn it into a 422 naming the field)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        raise ValueError("must be a string YYYY-MM")
    match = _SHAPE.match(value)
    if match is None or (match["d"] is not None and not allow_day):
        raise ValueError("must be YYYY-MM" + (" or YYYY-MM-01" if allow_day else ""))
    year, number = int(match["y"]), int(match["m"])
    if not 1 <= number <= 12:
        raise ValueError("is not a valid month")
    if match["d"] is not None:
        try:
            date(max(year, 1), number, int(match["d"]))
        except ValueError:
            raise ValueError("is not a valid date") from None
        if match["d"] != "01":
            raise ValueError("must be the first day of a month (YYYY-MM-01) or YYYY-MM")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"must be between {RANGE_TEXT}")
    return date(year, number, 1)


def parse_month_only(value: Any) -> date:
    """`YYYY-MM` only (the form query parameters take)."""
    return parse(value, allow_day=False)


def label(value: date) -> str:
    """`YYYY-MM`, the year always four digits."""
    return f"{value.year:04d}-{value.month:02d}"


def index(value: date) -> int:
    """Consecutive calendar months are consecutive integers: year × 12 + month − 1 (the same
    number as SQL's `month_index`)."""
    return value.year * 12 + value.month - 1


def from_index(number: int) -> date:
    """The first day of the month whose `index` is `number`."""
    year, month0 = divmod(number, 12)
    return date(year, month0 + 1, 1)


def shift(value: date, months: int) -> date:
    """The first of the month `months` calendar months after `value` (negative: before)."""
    return from_index(index(value) + months)


def span(first: date, last: date) -> int:
    """How many calendar months `first` … `last` covers, both included."""
    return index(last) - index(first) + 1


def period_label(period: int, months_per_period: int) -> str:
    """`2025-03`, `2025-T1` or `2025` for a period number (`index` // months per period)."""
    if months_per_period == 1:
        return label(from_index(period))
    if months_per_period == 3:
        year, quarter0 = divmod(period, 4)
        return f"{year:04d}-T{quarter0 + 1}"
    if months_per_period == 12:
        return f"{period:04d}"
    raise ValueError(f"no label for periods of {months_per_period} months")
