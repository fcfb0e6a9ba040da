"""Schema pieces shared by every domain."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

T = TypeVar("T")

# Ids are 32-bit integers in the database; anything larger is a 422, never a driver error.
MAX_ID = 2**31 - 1
# Routes are written `/{id}/` as in the contract; handlers name the parameter for what it is.
IdPath = Annotated[int, Path(alias="id", ge=1, le=MAX_ID, description="Resource id")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip")]


def _assume_utc(value: datetime) -> datetime:
    # SQLite returns naive UTC timestamps; the wire always carries an offset.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_assume_utc)]


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
