"""Schema pieces shared by every domain."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

from energy_api import months

T = TypeVar("T")

# Ids are 32-bit integers in the database; anything larger is a 422, never a driver error.
MAX_ID = 2**31 - 1
# Routes are written `/{id}/` as in the contract; handlers name the parameter for what it is.
IdPath = Annotated[int, Path(alias="id", ge=1, le=MAX_ID, description="Resource id")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip")]


# The largest kWh value a record holds: NUMERIC(10, 2).
KWH_MAX = Decimal("99999999.99")


def _reject_bool(value: Any) -> Any:
    # JSON true/false is not an id (pydantic would read true as 1).
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


def _reject_non_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a JSON number")
    return value


def _number(value: Decimal) -> float:
    return float(value)


# A reference to a row by id in a body. The bounds come first so that JSON Schema shows them
# as minimum/maximum (pydantic keeps constraints written after a validator as raw keys).
IdRef = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_reject_bool)]

MonthInput = Annotated[
    date,
    BeforeValidator(months.parse),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": months.PATTERN,
            "description": f"Month as YYYY-MM or YYYY-MM-01, {months.RANGE_TEXT}",
            "examples": ["2026-02"],
        }
    ),
]
MonthQuery = Annotated[
    date,
    BeforeValidator(months.parse_month_only),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": months.MONTH_ONLY_PATTERN,
            "description": f"Month as YYYY-MM, {months.RANGE_TEXT}",
            "examples": ["2026-02"],
        }
    ),
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
    PlainSerializer(_number, return_type=float),
    WithJsonSchema({"type": "number", "examples": [350.5]}),
]
MonthOutput = Annotated[
    date,
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-02-01"]}),
]


# NUL (PostgreSQL cannot store it in text) and unpaired surrogates (not encodable as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "must not contain NUL characters or unpaired surrogates"


def has_unstorable_text(value: object) -> bool:
    """Whether a string anywhere in `value` (nested lists, dicts, keys) cannot be stored."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(has_unstorable_text(k) or has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(has_unstorable_text(item) for item in value)
    return False


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused (no mass assignment), and so is any string
    with NUL or an unpaired surrogate, in every field of every body, so none reaches the
    database (PostgreSQL refuses NUL in text) or the UTF-8 encoder."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: object) -> object:
        if has_unstorable_text(value):
            raise ValueError(UNSTORABLE_MESSAGE)
        return value


def _not_nullable(schema: dict[str, Any]) -> None:
    """Document `X | None` PATCH fields as plain `X`: null is refused, absence means unchanged."""
    for prop in schema.get("properties", {}).values():
        options = prop.pop("anyOf", None)
        if options is not None:
            prop.update(*(option for option in options if option != {"type": "null"}))
        if prop.get("default", ...) is None:
            del prop["default"]


class PatchModel(InputModel):
    """PATCH bodies: every field optional, but a field that is sent may not be null.

    Fields are declared `X | None = None` (a nullable schema, so validation errors name the
    field itself rather than one error per union member) and documented without the null.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_nullable)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Rows matching the filters, ignoring limit and offset")
    limit: int
    offset: int
