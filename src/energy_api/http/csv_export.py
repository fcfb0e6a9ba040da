"""CSV answers: content negotiation, the two dialects, cell formatting and streaming.

A route answers CSV for `?formato=csv` or an `Accept` naming `text/csv`. The default dialect is
RFC 4180 (`,`, `.` decimals, CRLF); `?dialeto=br` is what Excel in Brazil opens as it is: `;`,
decimal commas and a UTF-8 byte order mark, so accents show right. Text cells starting with
`=`, `+`, `-`, `@` (or a tab or carriage return) get a leading `'`, so a spreadsheet shows them
as text instead of running them as formulas (OWASP, CSV injection). The body is produced chunk
by chunk from an async iterator, so an export of any size holds one chunk in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

MEDIA_TYPE = "text/csv"
Dialect = Literal["rfc4180", "br"]
Format = Literal["json", "csv"]

FormatQuery = Annotated[
    Format | None,
    Query(description="csv: answer text/csv (as `Accept: text/csv` does); default json"),
]
DialectQuery = Annotated[
    Dialect,
    Query(
        description="CSV dialect: rfc4180 (`,`, `.` decimals) or br (`;`, decimal commas, "
        "UTF-8 with BOM, for Excel in Brazil)"
    ),
]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BOM = "\ufeff"


def csv_responses(description: str) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry declaring the text/csv alternative of a route's 200."""
    return {
        200: {
            "description": "Successful Response",
            "content": {
                MEDIA_TYPE: {"schema": {"type": "string", "description": description}},
            },
        }
    }


def wants_csv(request: Request, formato: Format | None) -> bool:
    if formato is not None:
        return formato == "csv"
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == MEDIA_TYPE for part in accept.split(","))


def neutralised(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def cell(value: Any, dialect: Dialect) -> str:
    """One value as its cell: numbers in the dialect's decimals, dates ISO, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | float):
        text = format(value, "f") if isinstance(value, Decimal) else repr(value)
        return text.replace(".", ",") if dialect == "br" else text
    if isinstance(value, datetime | date):
        return value.isoformat()
    return neutralised(str(value))


class _Writer:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.buffer = io.StringIO()
        self.writer = csv.writer(
            self.buffer, delimiter=";" if dialect == "br" else ",", lineterminator="\r\n"
        )

    def rows(self, rows: Iterable[Sequence[Any]]) -> bytes:
        for row in rows:
            self.writer.writerow([cell(value, self.dialect) for value in row])
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode()


def response(
    filename: str,
    header: Sequence[str],
    chunks: AsyncIterable[Iterable[Sequence[Any]]],
    dialect: Dialect,
) -> StreamingResponse:
    """A streamed CSV download: the header row, then each chunk as it comes."""

    async def body() -> AsyncIterator[bytes]:
        writer = _Writer(dialect)
        first = writer.rows([header])
        yield (_BOM.encode() + first) if dialect == "br" else first
        async for chunk in chunks:
            yield writer.rows(chunk)

    return StreamingResponse(
        body(),
        media_type=f"{MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def of_models(
    filename: str, model: type[BaseModel], items: Sequence[BaseModel], dialect: Dialect
) -> StreamingResponse:
    """A small, already computed list of answers (analytics) as CSV, one column per field."""
    fields = list(model.model_fields)

    async def one_chunk() -> AsyncIterator[list[list[Any]]]:
        yield [[getattr(item, name) for name in fields] for item in items]

    return response(filename, fields, one_chunk(), dialect)
