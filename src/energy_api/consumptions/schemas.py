from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from energy_api.consumptions.models import KWH_MAX, Consumption
from energy_api.schemas import MAX_ID, InputModel, Page, PatchModel, UtcDatetime

_MONTH = re.compile(r"^(?P<y>\d{4})-(?P<m>\d{2})(?:-(?P<d>\d{2}))?$")
# Years 0001-9999 (there is no year 0).
_YEAR = r"(?:[1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])"
MONTH_PATTERN = rf"^{_YEAR}-(0[1-9]|1[0-2])(-01)?$"
MONTH_ONLY_PATTERN = rf"^{_YEAR}-(0[1-9]|1[0-2])$"


def parse_month(value: Any, *, allow_day: bool = True) -> date:
    """`YYYY-MM` or `YYYY-MM-01` → the first day of that month; anything else is refused."""
    if isinstance(value, date) and not isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        raise ValueError("must be a string YYYY-MM")
    match = _MONTH.match(value)
    if match is None or (match["d"] is not None and not allow_day):
        raise ValueError("must be YYYY-MM" + (" or YYYY-MM-01" if allow_day else ""))
    try:
        first = date(int(match["y"]), int(match["m"]), 1)
        if match["d"] is not None:
            date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        raise ValueError("is not a valid month") from None
    if match["d"] is not None and match["d"] != "01":
        raise ValueError("must be the first day of a month (YYYY-MM-01) or YYYY-MM")
    return first


def format_month(value: date) -> str:
    """`YYYY-MM`, the year always four digits (strftime's %Y does not pad years before 1000)."""
    return f"{value.year:04d}-{value.month:02d}"


def _parse_month_only(value: Any) -> date:
    return parse_month(value, allow_day=False)


def _reject_non_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a JSON number")
    return value


def _kwh_number(value: Decimal) -> float:
    return float(value)


MonthInput = Annotated[
    date,
    BeforeValidator(parse_month),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONTH_PATTERN,
            "description": "Month as YYYY-MM or YYYY-MM-01",
            "examples": ["2026-02"],
        }
    ),
]
MonthQuery = Annotated[
    date,
    BeforeValidator(_parse_month_only),
    WithJsonSchema({"type": "string", "pattern": MONTH_ONLY_PATTERN, "examples": ["2026-02"]}),
]
KwhInput = Annotated[
    Decimal,
    BeforeValidator(_reject_non_number),
    Field(ge=0, le=KWH_MAX, max_digits=10, decimal_places=2),
    WithJsonSchema(
        {
            "type": "number",
            "minimum": 0,
            "maximum": float(KWH_MAX),
            "multipleOf": 0.01,
            "description": "kWh, at most 2 decimals",
            "examples": [350.5],
        }
    ),
]
KwhOutput = Annotated[
    Decimal,
    PlainSerializer(_kwh_number, return_type=float),
    WithJsonSchema({"type": "number", "examples": [350.5]}),
]
MonthOutput = Annotated[
    date,
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-02-01"]}),
]


def _reject_bool(value: Any) -> Any:
    # JSON true/false is not an id (pydantic would read true as 1).
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


ClientRef = Annotated[
    int,
    BeforeValidator(_reject_bool),
    Field(ge=1, le=MAX_ID, description="Client id", examples=[1]),
]


class ConsumptionCreate(InputModel):
    cliente: ClientRef
    mes: MonthInput
    consumo_kwh: KwhInput


class ConsumptionUpdate(PatchModel):
    """PATCH body: any subset of the fields."""

    cliente: ClientRef | None = None
    mes: MonthInput | None = None
    consumo_kwh: KwhInput | None = None


class ConsumptionRead(BaseModel):
    id: int
    cliente: int
    cliente_nome: str
    mes: MonthOutput
    consumo_kwh: KwhOutput
    criado_em: UtcDatetime

    @classmethod
    def from_model(cls, consumption: Consumption, client_name: str) -> ConsumptionRead:
        return cls(
            id=consumption.id,
            cliente=consumption.client_id,
            cliente_nome=client_name,
            mes=consumption.month,
            consumo_kwh=consumption.kwh,
            criado_em=consumption.created_at,
        )


class ConsumptionPage(Page[ConsumptionRead]):
    pass
