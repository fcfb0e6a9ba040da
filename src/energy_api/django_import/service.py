"""The import's rules: what each Django row becomes here, or why it is refused.

Everything is written through the owning domains' services (users through `auth.service`,
clients through `clients.service`, records through the bulk load, which keeps the summaries
exact), in the caller's one transaction; the caller commits it, or rolls it back for a dry run
or when rows were refused and the operator did not accept that.

- Users keep their username, password hash (PBKDF2, re-hashed to argon2 at the next login) and
  `is_active`; `is_superuser` makes an admin, `is_staff` an editor, anyone else a viewer. Their
  ids are not kept: nothing refers to a user by id from outside.
- Clients keep their Django ids, so integrations that stored them keep working; the id sequence
  is moved past them. Documents are normalised (and their check digits verified unless
  `lenient_documents`); two rows whose documents normalise alike are both refused, never
  merged.
- Records: a `mes` that is not a first day moves to the first of its month when no other record
  of the client is in that month; negative or out-of-range values, and records of clients not
  imported, are refused. `data_registro` becomes `criado_em`.
- A second run finds every row already here (same username, same id and document, same client,
  month and kWh) and imports nothing; a row that differs from what is here is refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api import months
from energy_api.auth import service as auth_service
from energy_api.auth.models import Role
from energy_api.clients import service as clients_service
from energy_api.clients.documents import DocumentError
from energy_api.consumptions import bulk
from energy_api.django_import.source import (
    CLIENTS,
    CONSUMPTIONS,
    USERS,
    DjangoClient,
    DjangoConsumption,
    DjangoUser,
    Snapshot,
)

NAME_MAX_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Refusal:
    source_id: int
    field: str
    message: str


@dataclass(slots=True)
class TableReport:
    table: str
    read: int = 0
    imported: int = 0
    present: int = 0
    refused: list[Refusal] = field(default_factory=list)

    @property
    def refused_rows(self) -> int:
        return len({refusal.source_id for refusal in self.refused})


@dataclass(frozen=True, slots=True)
class Report:
    tables: tuple[TableReport, TableReport, TableReport]

    @property
    def refused(self) -> int:
        return sum(table.refused_rows for table in self.tables)

    @property
    def imported(self) -> int:
        return sum(table.imported for table in self.tables)


def role_of(user: DjangoUser) -> Role:
    if user.is_superuser:
        return Role.admin
    if user.is_staff:
        return Role.editor
    return Role.viewer


async def _users(session: AsyncSession, users: Sequence[DjangoUser]) -> TableReport:
    report = TableReport(USERS, read=len(users))
    for user in users:
        try:
            created = await auth_service.import_user(
                session,
                username=user.username,
                password_hash=user.password,
                role=role_of(user),
                active=user.is_active,
            )
        except auth_service.ImportRefused as exc:
            name, _, message = str(exc).partition(": ")
            report.refused.append(Refusal(user.id, name, f"{message} ({user.username!r})"))
            continue
        if created:
            report.imported += 1
        else:
            report.present += 1
    return report


def _document(raw: str, *, lenient: bool) -> str | Refusal:
    try:
        return clients_service.document(raw, strict=not lenient)
    except DocumentError as exc:
        message = f"{raw!r}: {exc}"
        if not lenient:
            try:
                clients_service.document(raw, strict=False)
            except DocumentError:
                pass
            else:
                message += " (imported as it is with --lenient-documents)"
        return Refusal(0, "documento", message)


async def _clients(
    session: AsyncSession, clients: Sequence[DjangoClient], *, lenient: bool
) -> tuple[TableReport, set[int]]:
    """The report, and the ids of the source's clients that are here after it (imported now
    or before)."""
    report = TableReport(CLIENTS, read=len(clients))
    judged: list[tuple[DjangoClient, str, str]] = []
    for client in clients:
        name = client.nome.strip()
        if not 1 <= len(name) <= NAME_MAX_LENGTH:
            report.refused.append(
                Refusal(client.id, "nome", f"must have 1 to {NAME_MAX_LENGTH} characters")
            )
            continue
        document = _document(client.documento, lenient=lenient)
        if isinstance(document, Refusal):
            report.refused.append(replace(document, source_id=client.id))
            continue
        judged.append((client, name, document))

    by_document: defaultdict[str, list[int]] = defaultdict(list)
    for client, _, document in judged:
        by_document[document].append(client.id)
    present = await clients_service.present(
        session, [c.id for c, _, _ in judged], list(by_document)
    )
    adopted: list[tuple[int, str, str]] = []
    here: set[int] = set()
    for client, name, document in judged:
        twins = [other for other in by_document[document] if other != client.id]
        if twins:
            others = ", ".join(map(str, twins))
            message = f"{client.documento!r} normalises to {document}, as client {others} does"
            report.refused.append(Refusal(client.id, "documento", message + "; not merged"))
            continue
        existing = present.by_id.get(client.id)
        if existing is not None:
            if existing[1] == document:
                report.present += 1
                here.add(client.id)
            else:
                message = f"id {client.id} is already client {existing[0]!r} ({existing[1]}) here"
                report.refused.append(Refusal(client.id, "id", message))
            continue
        owner = present.by_document.get(document)
        if owner is not None:
            message = f"{document} already belongs to client {owner} here"
            report.refused.append(Refusal(client.id, "documento", message))
            continue
        adopted.append((client.id, name, document))
        here.add(client.id)
    await clients_service.adopt(session, adopted)
    report.imported = len(adopted)
    report.refused.sort(key=lambda refusal: refusal.source_id)
    return report, here


def _months_fixed(
    consumptions: Sequence[DjangoConsumption], report: TableReport, clients_here: set[int]
) -> list[tuple[DjangoConsumption, date]]:
    """Each importable record with the month it takes: its own first day, or the first day of
    its month when no other record of the client falls in that month."""
    usable: list[DjangoConsumption] = []
    for record in consumptions:
        if record.cliente_id is None or record.cliente_id not in clients_here:
            reason = (
                "has no client"
                if record.cliente_id is None
                else (f"client {record.cliente_id} was not imported")
            )
            report.refused.append(Refusal(record.id, "cliente", reason))
        elif record.mes is None:
            report.refused.append(Refusal(record.id, "mes", "is empty"))
        elif record.consumo_kwh is None:
            report.refused.append(Refusal(record.id, "consumo_kwh", "is empty"))
        else:
            usable.append(record)

    in_month: defaultdict[tuple[int, date], list[DjangoConsumption]] = defaultdict(list)
    for record in usable:
        assert record.cliente_id is not None and record.mes is not None
        in_month[(record.cliente_id, record.mes.replace(day=1))].append(record)
    fixed: list[tuple[DjangoConsumption, date]] = []
    for record in usable:
        assert record.cliente_id is not None and record.mes is not None
        month = record.mes.replace(day=1)
        if record.mes.day == 1:
            fixed.append((record, month))
            continue
        others = [other.id for other in in_month[(record.cliente_id, month)] if other is not record]
        if others:
            message = (
                f"{record.mes.isoformat()} is not a first day, and {months.label(month)} also "
                f"has consumption {', '.join(map(str, others))} of client {record.cliente_id}"
            )
            report.refused.append(Refusal(record.id, "mes", message))
        else:
            fixed.append((record, month))
    return fixed


async def _consumptions(
    session: AsyncSession,
    consumptions: Sequence[DjangoConsumption],
    clients_here: set[int],
    statement_timeout_ms: int | None,
) -> TableReport:
    report = TableReport(CONSUMPTIONS, read=len(consumptions))
    rows: list[bulk.Row] = []
    for record, month in _months_fixed(consumptions, report, clients_here):
        item = {
            "cliente": record.cliente_id,
            "mes": month.isoformat(),
            "consumo_kwh": record.consumo_kwh,
        }
        judged = bulk.validate(record.id, item)
        if isinstance(judged, bulk.Row):
            rows.append(replace(judged, created_at=record.data_registro))
        else:
            report.refused.extend(Refusal(r.position, r.field, r.message) for r in judged)
    rows.sort(key=lambda row: (row.client_id, row.month))
    for start in range(0, len(rows), bulk.MAX_ROWS):
        chunk = bulk.Parsed(rows[start : start + bulk.MAX_ROWS], [], by_line=False)
        outcome = await bulk.load(
            session,
            chunk,
            mode=bulk.Mode.partial,
            on_conflict=bulk.OnConflict.ignore,
            reject_differing=True,
            statement_timeout_ms=statement_timeout_ms,
        )
        report.imported += outcome.inserted
        report.present += outcome.ignored
        report.refused.extend(Refusal(r.position, r.field, r.message) for r in outcome.rejected)
    report.refused.sort(key=lambda refusal: refusal.source_id)
    return report


async def run(
    session: AsyncSession,
    snapshot: Snapshot,
    *,
    lenient_documents: bool,
    statement_timeout_ms: int | None = None,
) -> Report:
    """Judge and write every row of the snapshot in the session's transaction."""
    users = await _users(session, snapshot.users)
    clients, here = await _clients(session, snapshot.clients, lenient=lenient_documents)
    consumptions = await _consumptions(session, snapshot.consumptions, here, statement_timeout_ms)
    return Report((users, clients, consumptions))
