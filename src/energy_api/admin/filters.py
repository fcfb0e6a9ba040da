"""The consumption list's filters, drawn as small forms beside the list (sqladmin's own filters
list every distinct value as a link, which a 100,000-client portfolio cannot)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin._types import _UNSET, UnsetAny
from sqlalchemy import Select


class InputFilter:
    """A filter typed into an input; `ConsumptionAdmin.list` applies the value itself."""

    has_operator = False
    default_value: UnsetAny = _UNSET  # no default: unset means not filtered
    template = "sqladmin/filters/input_filter.html"
    input_type = "text"
    input_attributes: ClassVar[dict[str, str]] = {}

    def __init__(self, parameter_name: str, title: str) -> None:
        self.parameter_name = parameter_name
        self.title = title

    async def lookups(self, *_: Any) -> list[tuple[str, str]]:
        return []

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        return query


class ClientIdFilter(InputFilter):
    input_type = "number"
    input_attributes: ClassVar[dict[str, str]] = {"min": "1", "step": "1"}


class MonthFilter(InputFilter):
    input_type = "month"
    input_attributes: ClassVar[dict[str, str]] = {"min": "1900-01", "max": "2199-12"}
