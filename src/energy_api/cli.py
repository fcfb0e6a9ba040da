"""The `energy-api` command: migrate, manage users, serve, seed demo data."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api import months
from energy_api.auth import passwords
from energy_api.auth import repository as users_repository
from energy_api.auth import service as auth_service
from energy_api.auth.models import Role
from energy_api.clients import repository as clients_repository
from energy_api.clients import service as clients_service
from energy_api.clients.documents import normalize_document
from energy_api.config import ConfigError, Settings, load_settings
from energy_api.consumptions import bulk
from energy_api.consumptions import service as consumptions_service
from energy_api.db import create_engine, create_sessionmaker
from energy_api.django_import import service as django_import
from energy_api.django_import import source as django_source
from energy_api.errors import AppError
from energy_api.summaries import service as summaries_service

T = TypeVar("T")

DEMO_CLIENTS = (
    ("Maria da Silva", "529.982.247-25"),
    ("João Pereira", "111.444.777-35"),
    ("Padaria Pão Quente Ltda", "11.222.333/0001-81"),
    ("Oficina Alfa Numérica", "12.ABC.345/01DE-35"),
)


class CommandError(Exception):
    """A failure to report in one line, exit status 1."""


def alembic_config(settings: Settings) -> object:
    from alembic.config import Config

    candidates = [Path.cwd() / "alembic.ini", Path(__file__).resolve().parents[2] / "alembic.ini"]
    ini = next((path for path in candidates if path.is_file()), None)
    if ini is None:
        raise CommandError("alembic.ini not found: run from the project (or image /app) folder")
    config = Config(str(ini))
    config.set_main_option("script_location", str(ini.parent / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    config.attributes["settings"] = settings
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = alembic_config(settings)
    assert isinstance(config, Config)
    command.upgrade(config, revision)


async def _in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction: the command is the boundary that commits."""
    engine = create_engine(settings.sqlalchemy_url, settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def _read_password(prompt_twice: bool) -> str:
    if not prompt_twice:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != password:
            raise CommandError("passwords do not match")
    if len(password) < 8:
        raise CommandError("password must have at least 8 characters")
    return password


def create_user(settings: Settings, username: str, role: Role) -> None:
    password = _read_password(prompt_twice=sys.stdin.isatty())

    async def work(session: AsyncSession) -> None:
        await auth_service.create_user(session, username, password, role)

    try:
        asyncio.run(_in_session(settings, work))
    except AppError as exc:
        raise CommandError(exc.detail) from None
    print(f"created user {username!r} with role {role.value}")


def _generated_password() -> str:
    """A random password the policy accepts (a random one lacks a digit now and then)."""
    while True:
        password = secrets.token_urlsafe(12)
        if not passwords.problems(password, "admin"):
            return password


def ensure_admin(settings: Settings) -> None:
    """Create `admin` when there is no user yet; print its password once if generated."""
    given = settings.admin_password.get_secret_value() if settings.admin_password else ""
    password = given or _generated_password()

    async def work(session: AsyncSession) -> bool:
        if await users_repository.exists_any(session):
            return False
        await auth_service.create_user(session, "admin", password, Role.admin)
        return True

    if asyncio.run(_in_session(settings, work)):
        shown = "(from ADMIN_PASSWORD)" if given else password
        print(f"created user 'admin' (role admin), password: {shown}")


def set_active(settings: Settings, username: str, *, active: bool) -> None:
    async def work(session: AsyncSession) -> bool:
        return await auth_service.set_active(session, username, active=active)

    if not asyncio.run(_in_session(settings, work)):
        raise CommandError(f"no user named {username!r}")
    print(f"user {username!r} is now {'active' if active else 'inactive'}")


def prune_tokens(settings: Settings) -> None:
    tokens, attempts = asyncio.run(_in_session(settings, auth_service.prune))
    print(f"deleted {tokens} expired refresh token(s) and {attempts} old failed login(s)")


def seed_demo(settings: Settings) -> None:
    """A few demo clients with 24 months each; clients that already exist are left alone."""

    async def work(session: AsyncSession) -> int:
        created = 0
        today = datetime.now(UTC).date()
        for index, (name, document) in enumerate(DEMO_CLIENTS):
            if await clients_repository.get_by_document(session, normalize_document(document)):
                continue
            client = await clients_service.create(session, settings, name=name, document=document)
            created += 1
            this_month = today.replace(day=1)
            for back in range(24):
                month = months.shift(this_month, -back)
                seasonal = Decimal(abs(7 - month.month) * 12)
                await consumptions_service.create(
                    session,
                    client_id=client.id,
                    month=month,
                    kwh=Decimal(180 + 70 * index) + seasonal + Decimal(back % 5) / 4,
                )
        return created

    created = asyncio.run(_in_session(settings, work))
    print(f"seeded {created} demo client(s) with 24 months each")


def _row_text(row: Sequence[object]) -> str:
    return "(" + ", ".join(str(value) for value in row) + ")"


def verify_summaries(settings: Settings) -> bool:
    """Compare every summary table with a rebuild; print the differences; True when exact."""

    async def work(session: AsyncSession) -> list[summaries_service.Drift]:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for every comparison: concurrent writes are seen whole or not at all.
            await session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
        return await summaries_service.verify(session)

    drifts = asyncio.run(_in_session(settings, work))
    for drift in drifts:
        print(f"{drift.table}: {drift.missing} row(s) missing, {drift.extra} row(s) extra")
        for row in drift.missing_rows:
            print(f"  expected, not stored: {_row_text(row)}")
        for row in drift.extra_rows:
            print(f"  stored, not expected: {_row_text(row)}")
    if not drifts:
        print("summaries: every table equals a rebuild from the consumptions")
    return not drifts


def rebuild_summaries(settings: Settings, client_ids: Sequence[int]) -> None:
    """Rebuild every summary table, or only the given clients' own rows."""

    async def work(session: AsyncSession) -> None:
        if not client_ids:
            await summaries_service.rebuild_all(session)
            return
        missing = set(client_ids) - await clients_service.lock(session, client_ids)
        if missing:
            raise CommandError(f"no client with id {', '.join(map(str, sorted(missing)))}")
        await summaries_service.rebuild_clients(session, client_ids)

    asyncio.run(_in_session(settings, work))
    which = "every summary table" if not client_ids else f"client(s) {list(client_ids)}"
    print(f"rebuilt {which} from the consumptions")


def _print_outcome(outcome: bulk.Outcome) -> None:
    where = "line" if outcome.by_line else "item"
    for rejection in outcome.rejected:
        print(f"{where} {rejection.position}: {rejection.field}: {rejection.message}")
    print(
        f"{outcome.total} rows: {outcome.inserted} inserted, {outcome.replaced} replaced, "
        f"{outcome.unchanged} unchanged, {outcome.ignored} ignored, "
        f"{outcome.rejected_rows} rejected"
    )


def import_csv(
    settings: Settings, path: Path, *, mode: bulk.Mode, on_conflict: bulk.OnConflict, dry_run: bool
) -> bool:
    """Load a CSV file as `POST /api/v1/consumos/lote/` would (the same service and rules);
    whether every row was accepted."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None

    async def work(session: AsyncSession) -> bulk.Outcome:
        parsed = bulk.parse_csv(data)
        return await bulk.load(session, parsed, mode=mode, on_conflict=on_conflict, dry_run=dry_run)

    try:
        outcome = asyncio.run(_in_session(settings, work))
    except bulk.BatchRejected as exc:
        _print_outcome(exc.outcome)
        print("nothing was written (tudo_ou_nada); fix the rows or use --modo parcial")
        return False
    except AppError as exc:
        raise CommandError(exc.detail) from None
    _print_outcome(outcome)
    if dry_run:
        print("dry run: nothing was written")
    return not outcome.rejected


def _print_import(report: django_import.Report) -> None:
    for table in report.tables:
        print(
            f"{table.table}: {table.read} read, {table.imported} imported, "
            f"{table.present} already here, {table.refused_rows} rejected"
        )
        for refusal in table.refused:
            print(f"  {table.table} id {refusal.source_id}: {refusal.field}: {refusal.message}")


def import_django(
    settings: Settings, source: str, *, dry_run: bool, lenient_documents: bool, skip_rejected: bool
) -> bool:
    """Import the Django system's users, clients and consumptions in one transaction: written
    whole, or (dry run; rows rejected without --skip-rejected) not at all. Whether nothing was
    rejected."""

    async def work() -> django_import.Report:
        try:
            snapshot = await django_source.read(source)
        except django_source.SourceError as exc:
            raise CommandError(str(exc)) from None
        engine = create_engine(settings.sqlalchemy_url, settings)
        try:
            async with create_sessionmaker(engine)() as session:
                transaction = await session.begin()
                report = await django_import.run(
                    session,
                    snapshot,
                    lenient_documents=lenient_documents,
                    statement_timeout_ms=settings.bulk_statement_timeout_ms,
                )
                if dry_run or (report.refused and not skip_rejected):
                    await transaction.rollback()
                else:
                    await transaction.commit()
                return report
        finally:
            await engine.dispose()

    report = asyncio.run(work())
    _print_import(report)
    if dry_run:
        print("dry run: nothing was written")
    elif report.refused and not skip_rejected:
        print(
            f"nothing was written: {report.refused} rows rejected; fix them in the source, or "
            "run again with --skip-rejected to import the others"
        )
    elif report.imported == 0:
        print("nothing new to import: every row is already here")
    else:
        print(f"imported {report.imported} rows; the summaries include them")
    return not report.refused


def serve(
    settings: Settings, host: str, port: int, workers: int, reload: bool, access_log: bool
) -> None:
    """Run uvicorn. On SIGTERM it stops accepting connections, lets in-flight requests finish
    for up to SHUTDOWN_GRACE_SECONDS, then runs the lifespan shutdown (the pool is closed).

    Logs go through `energy_api.observability.logging` (uvicorn's own formatting is off), and
    the metrics of every worker are served on METRICS_HOST:METRICS_PORT from this process."""
    import os

    import uvicorn

    from energy_api.observability import metrics
    from energy_api.observability.logging import configure_logging

    if not access_log:
        # Read again by each worker's Settings.
        os.environ["LOG_REQUESTS"] = "false"
    configure_logging(settings)
    # The app runs in other processes than this one (workers, or the reloader's child).
    if reload or workers > 1 or os.environ.get(metrics.MULTIPROC_ENV):
        metrics.prepare_multiprocess_dir()
    if settings.metrics_port:
        try:
            metrics.start_metrics_server(settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            logging.getLogger(__name__).error(
                "metrics not served on %s:%d: %s", settings.metrics_host, settings.metrics_port, exc
            )
    uvicorn.run(
        "energy_api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        access_log=False,
        log_config=None,
        proxy_headers=True,
        server_header=False,  # no "server: uvicorn" to advertise; one header less to write
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="energy-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the database migrations (alembic upgrade head)")
    user = commands.add_parser("create-user", help="create a user; password from stdin or prompt")
    user.add_argument("username")
    user.add_argument("--role", choices=[r.value for r in Role], default=Role.viewer.value)
    commands.add_parser("ensure-admin", help="create 'admin' when the database has no user")
    active = commands.add_parser("set-active", help="activate or deactivate a user")
    active.add_argument("username")
    active.add_argument("--no", dest="active", action="store_false", help="deactivate")
    commands.add_parser("prune-tokens", help="delete expired refresh tokens and old failed logins")
    run = commands.add_parser("serve", help="run the HTTP server")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=1)
    run.add_argument("--reload", action="store_true")
    run.add_argument("--no-access-log", dest="access_log", action="store_false")
    commands.add_parser("seed-demo", help="a few demo clients with 24 months of consumption")
    summaries = commands.add_parser("summaries", help="check or repair the analytics summaries")
    summaries_commands = summaries.add_subparsers(dest="summaries_command", required=True)
    summaries_commands.add_parser(
        "verify", help="compare every summary row with a rebuild; exit 1 on any difference"
    )
    rebuild = summaries_commands.add_parser(
        "rebuild",
        help="rebuild every summary table (writers wait), or with --client only those clients' "
        "own rows (their totals, trailing years and flagged months)",
    )
    rebuild.add_argument("--client", type=int, action="append", default=[], metavar="ID")
    load = commands.add_parser(
        "import-csv",
        help="load consumptions from a CSV file (cliente,mes,consumo_kwh; `,` or `;` with "
        "decimal commas), as POST /api/v1/consumos/lote/ does; exit 1 if any row is rejected",
    )
    load.add_argument("file", type=Path)
    load.add_argument("--modo", choices=[m.value for m in bulk.Mode], default="tudo_ou_nada")
    load.add_argument("--conflito", choices=[c.value for c in bulk.OnConflict], default="erro")
    load.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    django = commands.add_parser(
        "import-django",
        help="import users, clients and consumptions from the Django system's PostgreSQL "
        "database, in one transaction; exit 1 if any row is rejected",
    )
    django.add_argument("--source", required=True, metavar="postgresql://…")
    django.add_argument("--dry-run", action="store_true", help="print the report, write nothing")
    django.add_argument(
        "--lenient-documents",
        action="store_true",
        help="import documents whose check digits are wrong (normalised, 1-20 characters)",
    )
    django.add_argument(
        "--skip-rejected",
        action="store_true",
        help="import the other rows when some are rejected (default: write nothing)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "migrate":
            migrate(settings)
        elif args.command == "create-user":
            create_user(settings, args.username.strip(), Role(args.role))
        elif args.command == "ensure-admin":
            ensure_admin(settings)
        elif args.command == "set-active":
            set_active(settings, args.username, active=args.active)
        elif args.command == "prune-tokens":
            prune_tokens(settings)
        elif args.command == "serve":
            serve(settings, args.host, args.port, args.workers, args.reload, args.access_log)
        elif args.command == "seed-demo":
            seed_demo(settings)
        elif args.command == "summaries" and args.summaries_command == "verify":
            return 0 if verify_summaries(settings) else 1
        elif args.command == "summaries" and args.summaries_command == "rebuild":
            rebuild_summaries(settings, args.client)
        elif args.command == "import-csv":
            accepted = import_csv(
                settings,
                args.file,
                mode=bulk.Mode(args.modo),
                on_conflict=bulk.OnConflict(args.conflito),
                dry_run=args.dry_run,
            )
            return 0 if accepted else 1
        elif args.command == "import-django":
            clean = import_django(
                settings,
                args.source,
                dry_run=args.dry_run,
                lenient_documents=args.lenient_documents,
                skip_rejected=args.skip_rejected,
            )
            return 0 if clean else 1
    except (ConfigError, CommandError) as exc:
        print(f"energy-api: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
