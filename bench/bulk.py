"""Bulk load and CSV export, measured against a served app on a database of 12 M records.

    .venv/bin/python -m bench.bulk \\
        --database-url postgresql://postgres@127.0.0.1:5432/energy_bench_12m

Fill the database first with bench/generate.py (e.g. 100,000 clients × 120 months). Then:

1. Load: for each of the `--batches` months after the last one in the database, one
   `POST /api/v1/consumos/lote/` of a CSV with every client's reading for that month (100,000
   rows with 100,000 clients), against `energy-api serve --workers 1` (ENVIRONMENT=production,
   the default settings otherwise), so the server process is the worker whose peak RSS
   (VmHWM) is reported. Summaries are maintained as in production.
2. COPY: the same rows, in the same run, with `COPY … FROM STDIN` (asyncpg, binary) into a bare
   table of the consumptions' columns (no index, constraint or trigger), the ceiling of what
   PostgreSQL can take in; the ratio bulk ÷ COPY is reported.
3. Export: `GET /api/v1/consumos/?formato=csv` of every record, read as it streams, against a
   fresh server; rows/s and the worker's peak RSS.

Each run adds `--batches` new months, so runs can follow each other on one database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import func, select

from bench.generate import urls
from bench.run import serving
from energy_api import months
from energy_api.auth import repository as users_repository
from energy_api.auth import service as auth_service
from energy_api.auth.models import Role
from energy_api.cli import migrate
from energy_api.clients.models import Client
from energy_api.config import Settings
from energy_api.consumptions.models import Consumption
from energy_api.db import create_engine, create_sessionmaker
from energy_api.security import TokenType, encode_token

BENCH_EDITOR = "bench-editor"
COPY_TABLE = "bench_copy_consumptions"


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


async def prepare(settings: Settings) -> tuple[str, int, date, int]:
    """An editor's token, the number of clients, the last month, and the record count."""
    engine = create_engine(settings.sqlalchemy_url, settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = await users_repository.get_by_username(session, BENCH_EDITOR)
            if user is None:
                user = await auth_service.create_user(
                    session, BENCH_EDITOR, secrets.token_urlsafe(16) + "1a", Role.editor
                )
            clients = int(await session.scalar(select(func.max(Client.id))) or 0)
            last = await session.scalar(select(func.max(Consumption.month)))
            records = await session.scalar(select(func.count()).select_from(Consumption))
        if not clients or last is None:
            raise SystemExit("bulk: the database has no data; fill it with bench/generate.py")
        token = encode_token(
            settings, subject=str(user.id), token_type=TokenType.access, ttl=timedelta(hours=3)
        )
        return token, clients, last, int(records or 0)
    finally:
        await engine.dispose()


def batch_rows(clients: int, month: date, seed: int) -> list[tuple[int, date, Decimal]]:
    rng = random.Random(seed)
    return [
        (client, month, Decimal(rng.randrange(5_000, 200_000)) / 100)
        for client in range(1, clients + 1)
    ]


def as_csv(rows: list[tuple[int, date, Decimal]]) -> bytes:
    label = months.label(rows[0][1])
    lines = ["cliente,mes,consumo_kwh"]
    lines += [f"{client},{label},{kwh}" for client, _, kwh in rows]
    return ("\n".join(lines) + "\n").encode()


async def copy_baseline(dsn: str, batches: list[list[tuple[int, date, Decimal]]]) -> float:
    """Seconds to COPY every batch (one COPY each) into a bare table of the same shape."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        await connection.execute(
            f"CREATE TABLE {COPY_TABLE} (id serial, client_id integer NOT NULL, "
            "month date NOT NULL, kwh numeric(10, 2) NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
        started = time.perf_counter()
        for rows in batches:
            await connection.copy_records_to_table(
                COPY_TABLE, records=rows, columns=["client_id", "month", "kwh"]
            )
        elapsed = time.perf_counter() - started
        await connection.execute(f"DROP TABLE {COPY_TABLE}")
        return elapsed
    finally:
        await connection.close()


def serve_command(database_url: str, secret: str, port: int) -> tuple[list[str], dict[str, str]]:
    energy_api = str(Path(sys.executable).with_name("energy-api"))
    command = [energy_api, "serve", "--workers", "1", "--no-access-log", "--port", str(port)]
    env = {"DATABASE_URL": database_url, "SECRET_KEY": secret, "ENVIRONMENT": "production"}
    return command, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args(argv)

    target = urls(args.database_url)
    secret = secrets.token_urlsafe(48)
    settings = Settings(
        _env_file=None,
        database_url=target.sqlalchemy,
        secret_key=secret,
        environment="production",
        db_statement_timeout_ms=0,
    )
    migrate(settings)
    token, clients, last, records = asyncio.run(prepare(settings))
    print(f"database {target.database}: {records:,} records, {clients:,} clients, last {last}")
    month_list = [months.shift(last, n) for n in range(1, args.batches + 1)]
    batches = [batch_rows(clients, month, seed=n) for n, month in enumerate(month_list)]
    bodies = [as_csv(rows) for rows in batches]
    total_rows = sum(len(rows) for rows in batches)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    base = f"http://127.0.0.1:{args.port}"

    command, env = serve_command(target.sqlalchemy, secret, args.port)
    load_seconds: list[float] = []
    with (
        serving(command, env, f"{base}/health/") as process,
        httpx.Client(base_url=base, timeout=600) as http,
    ):
        for month, body in zip(month_list, bodies, strict=True):
            started = time.perf_counter()
            response = http.post("/api/v1/consumos/lote/", content=body, headers=headers)
            seconds = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"bulk: {response.status_code} {response.text[:500]}")
            report = response.json()
            load_seconds.append(seconds)
            print(
                f"  {months.label(month)}: {report['inseridos']:,} inserted in "
                f"{seconds:.2f} s ({report['inseridos'] / seconds:,.0f} rows/s)",
                flush=True,
            )
        load_rss = peak_rss_mib(process.pid)
    load_total = sum(load_seconds)
    copy_seconds = asyncio.run(copy_baseline(target.dsn, batches))
    bulk_rate = total_rows / load_total
    copy_rate = total_rows / copy_seconds
    print()
    print("| measure | value |")
    print("|---|---|")
    print(
        f"| bulk load, {len(batches)} × {len(batches[0]):,} rows | {load_total:.1f} s, "
        f"{bulk_rate:,.0f} rows/s |"
    )
    print(
        f"| COPY of the same rows into a bare table | {copy_seconds:.1f} s, "
        f"{copy_rate:,.0f} rows/s |"
    )
    print(f"| bulk ÷ COPY | {bulk_rate / copy_rate:.3f} |")
    print(f"| worker peak RSS during the load | {load_rss:,.0f} MiB |")

    if not args.skip_export:
        with serving(command, env, f"{base}/health/") as process:
            started = time.perf_counter()
            lines = 0
            size = 0
            with (
                httpx.Client(base_url=base, timeout=600) as http,
                http.stream(
                    "GET",
                    "/api/v1/consumos/",
                    params={"formato": "csv"},
                    headers={"Authorization": f"Bearer {token}"},
                ) as response,
            ):
                if response.status_code != 200:
                    raise SystemExit(f"export: {response.status_code} {response.read()[:500]!r}")
                for chunk in response.iter_bytes():
                    lines += chunk.count(b"\n")
                    size += len(chunk)
            seconds = time.perf_counter() - started
            export_rss = peak_rss_mib(process.pid)
        exported = lines - 1
        print(
            f"| CSV export of {exported:,} records ({size / 2**20:,.0f} MiB) | "
            f"{seconds:.1f} s, {exported / seconds:,.0f} rows/s |"
        )
        print(f"| worker peak RSS during the export | {export_rss:,.0f} MiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
