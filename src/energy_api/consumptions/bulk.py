"""Bulk loads of consumption records: many rows in one transaction, each judged by the rules of
a single POST, written set-based, the summaries maintained once for the whole batch.

The rows come as JSON items or as CSV text (`parse_items`, `parse_csv`); `load` decides the
fate of each and writes. It takes the write path's locks in its order (`energy_api.summaries`):
every client of the batch at once, ascending, then the records are read and written under
`summaries.changing` for the set of (client, month) keys the batch touches, so the summaries
end equal to a rebuild whatever else runs meanwhile.

Both the HTTP route (`POST /api/v1/consumos/lote/`) and `energy-api import-csv` call it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api import months
from energy_api.clients import service as clients_service
from energy_api.consumptions import repository
from energy_api.consumptions.schemas import ConsumptionCreate
from energy_api.db import longer_statements
from energy_api.errors import AppError, BadRequest, FieldError
from energy_api.summaries import service as summaries

MAX_ROWS = 100_000
CSV_HEADER = ("cliente", "mes", "consumo_kwh")


class Mode(StrEnum):
    all_or_nothing = "tudo_ou_nada"
    partial = "parcial"


class OnConflict(StrEnum):
    """What a row does when its client already has a record for its month."""

    error = "erro"
    overwrite = "substituir"
    ignore = "ignorar"


@dataclass(frozen=True, slots=True)
class Row:
    """A valid row; `position` is its index in `itens` (JSON) or its line in the file (CSV)."""

    position: int
    client_id: int
    month: date
    kwh: Decimal
    # When the record was made, for imports of history; None: now.
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    position: int
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Parsed:
    rows: list[Row]
    rejected: list[Rejection]
    # Positions are CSV line numbers (True) or JSON indexes (False).
    by_line: bool


@dataclass(slots=True)
class Outcome:
    total: int
    by_line: bool
    dry_run: bool
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    ignored: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    written: bool = False

    @property
    def rejected_rows(self) -> int:
        return len({rejection.position for rejection in self.rejected})


class BatchRejected(AppError):
    """An all-or-nothing batch with rejected rows: nothing is written (422, with the report)."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY

    def __init__(self, outcome: Outcome) -> None:
        where = "line" if outcome.by_line else "item"
        errors = [
            FieldError(field=f"{where} {r.position}: {r.field}", message=r.message)
            for r in outcome.rejected[:100]
        ]
        super().__init__(
            f"{len(outcome.rejected)} of {outcome.total} rows rejected; nothing was written",
            errors=errors,
        )
        self.outcome = outcome


class TooManyRows(AppError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} rows sent; a batch holds at most {MAX_ROWS}")


# --- input ------------------------------------------------------------------------------------


def _field_of(error: Any) -> str:
    loc = [str(part) for part in error["loc"]]
    return ".".join(loc) or "item"


def validate(position: int, item: object) -> Row | list[Rejection]:
    """One row by the rules of `POST /api/v1/consumos/` (the same model)."""
    if not isinstance(item, dict):
        return [Rejection(position, "item", "must be an object")]
    try:
        body = ConsumptionCreate.model_validate(item)
    except ValidationError as exc:
        return [
            Rejection(position, _field_of(e), str(e["msg"]).removeprefix("Value error, "))
            for e in exc.errors()
        ]
    return Row(position, body.cliente, body.mes, body.consumo_kwh)


def _collect(pairs: Iterable[tuple[int, object]], *, by_line: bool) -> Parsed:
    rows: list[Row] = []
    rejected: list[Rejection] = []
    for position, item in pairs:
        result = validate(position, item)
        if isinstance(result, Row):
            rows.append(result)
        else:
            rejected.extend(result)
    return Parsed(rows, rejected, by_line)


def parse_items(items: Sequence[object]) -> Parsed:
    """JSON items, each validated alone; positions are indexes into `itens` (from 0)."""
    if len(items) > MAX_ROWS:
        raise TooManyRows(len(items))
    return _collect(enumerate(items), by_line=False)


_BR_NUMBER = re.compile(r"^(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")
_PLAIN_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def _number(text: str, *, brazilian: bool) -> Decimal | str:
    """A decimal from a cell (`1.234,56` in the Brazilian dialect), or the cell as it was, which
    the row's validation then refuses with its own message."""
    value = text.strip()
    if brazilian:
        if not _BR_NUMBER.match(value):
            return value
        value = value.replace(".", "").replace(",", ".")
    elif not _PLAIN_NUMBER.match(value):
        return value
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the patterns admit only decimals
        return text


def _integer(text: str) -> int | str:
    value = text.strip()
    return int(value) if value.isascii() and value.isdigit() else value


def parse_csv(data: bytes) -> Parsed:
    """CSV with the header `cliente,mes,consumo_kwh`: RFC 4180 with `.` decimals, or the
    Brazilian dialect (`;`, decimal commas, thousands dots); UTF-8, with or without a BOM.
    Positions are line numbers of the file (the header is line 1)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"CSV must be UTF-8 (byte {exc.start} is not)") from None
    first = text.split("\n", 1)[0]
    brazilian = ";" in first
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";" if brazilian else ",")
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise BadRequest(f"CSV line 1: {exc}") from None
    if header is None or tuple(h.strip().lower() for h in header) != CSV_HEADER:
        raise BadRequest(f"CSV must start with the header {','.join(CSV_HEADER)}")

    def cells() -> Iterable[tuple[int, object]]:
        count = 0
        try:
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                count += 1
                if count > MAX_ROWS:
                    raise TooManyRows(count)
                line = reader.line_num
                if len(cells) != len(CSV_HEADER):
                    yield line, f"has {len(cells)} cells, not {len(CSV_HEADER)}"
                    continue
                client, month, kwh = cells
                yield (
                    line,
                    {
                        "cliente": _integer(client),
                        "mes": month.strip(),
                        "consumo_kwh": _number(kwh, brazilian=brazilian),
                    },
                )
        except csv.Error as exc:
            raise BadRequest(f"CSV line {reader.line_num}: {exc}") from None

    rows: list[Row] = []
    rejected: list[Rejection] = []
    for line, item in cells():
        if isinstance(item, str):
            rejected.append(Rejection(line, "linha", item))
            continue
        result = validate(line, item)
        if isinstance(result, Row):
            rows.append(result)
        else:
            rejected.extend(result)
    return Parsed(rows, rejected, by_line=True)


# --- the load ---------------------------------------------------------------------------------


async def load(
    session: AsyncSession,
    parsed: Parsed,
    *,
    mode: Mode = Mode.all_or_nothing,
    on_conflict: OnConflict = OnConflict.error,
    dry_run: bool = False,
    reject_differing: bool = False,
    statement_timeout_ms: int | None = None,
) -> Outcome:
    """Judge every row and, unless `dry_run`, write: all of them or none (`all_or_nothing`,
    which raises `BatchRejected` when any row is rejected), or the valid ones (`partial`).

    A row is rejected when it breaks a rule of a single POST, names a client that does not
    exist, repeats the client and month of an earlier row of the batch, or (`OnConflict.error`)
    its client already has a record for its month. With `overwrite` an existing record takes the
    row's kWh (unchanged when equal); with `ignore` it stays as it is (and with
    `reject_differing`, a row whose kWh differs from the record's is rejected instead).
    `statement_timeout_ms` lets its statements run longer than a request's (`BULK_…`).
    """
    if statement_timeout_ms is not None:
        async with longer_statements(session, statement_timeout_ms):
            return await _load(session, parsed, mode, on_conflict, dry_run, reject_differing)
    return await _load(session, parsed, mode, on_conflict, dry_run, reject_differing)


async def _load(
    session: AsyncSession,
    parsed: Parsed,
    mode: Mode,
    on_conflict: OnConflict,
    dry_run: bool,
    reject_differing: bool,
) -> Outcome:
    rejected = list(parsed.rejected)
    outcome = Outcome(
        total=len(parsed.rows) + len({r.position for r in parsed.rejected}),
        by_line=parsed.by_line,
        dry_run=dry_run,
    )
    client_ids = {row.client_id for row in parsed.rows}
    # Dry runs lock nothing: they report what a run would do now, and hold no writer off.
    if dry_run:
        known = await clients_service.existing(session, client_ids)
    else:
        known = await clients_service.lock(session, client_ids)

    candidates: dict[tuple[int, date], Row] = {}
    for row in parsed.rows:
        key = (row.client_id, row.month)
        if row.client_id not in known:
            rejected.append(
                Rejection(row.position, "cliente", f"Client {row.client_id} does not exist")
            )
        elif (first := candidates.get(key)) is not None:
            where = "line" if parsed.by_line else "item"
            rejected.append(
                Rejection(
                    row.position,
                    "mes",
                    f"repeats the client and month of {where} {first.position}",
                )
            )
        else:
            candidates[key] = row

    existing = await repository.existing_at(session, sorted(candidates))
    inserts: list[tuple[int, date, Decimal, datetime | None]] = []
    updates: list[tuple[int, Decimal]] = []
    scope: list[tuple[int, date]] = []
    for key, row in candidates.items():
        found = existing.get(key)
        if found is None:
            inserts.append((row.client_id, row.month, row.kwh, row.created_at))
            scope.append(key)
        elif on_conflict is OnConflict.error:
            message = (
                f"Client {row.client_id} already has a consumption for {months.label(row.month)}"
            )
            rejected.append(Rejection(row.position, "mes", message))
        elif on_conflict is OnConflict.ignore:
            if reject_differing and found[1] != row.kwh:
                message = (
                    f"Client {row.client_id} already has {found[1]} kWh for "
                    f"{months.label(row.month)}, not {row.kwh}"
                )
                rejected.append(Rejection(row.position, "consumo_kwh", message))
            else:
                outcome.ignored += 1
        elif found[1] == row.kwh:
            outcome.unchanged += 1
        else:
            updates.append((found[0], row.kwh))
            scope.append(key)

    rejected.sort(key=lambda r: r.position)
    outcome.rejected = rejected
    outcome.inserted = len(inserts)
    outcome.replaced = len(updates)
    if rejected and mode is Mode.all_or_nothing:
        if dry_run:
            return outcome
        raise BatchRejected(outcome)
    if dry_run or not (inserts or updates):
        return outcome

    async with summaries.changing(session, scope):
        await repository.add_many(session, inserts)
        await repository.set_kwh_many(session, updates)
    outcome.written = True
    return outcome
