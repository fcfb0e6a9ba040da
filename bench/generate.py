"""Fill a PostgreSQL database with benchmark data, fast: COPY, indexes built after the load.

    .venv/bin/python -m bench.generate --clients 100000 --months 120 \\
        --database-url postgresql://postgres@127.0.0.1:5432/energy_bench_12m

Creates the database when missing and migrates it, then replaces every client and consumption:
client ids are 1..N, each with one record a month for the M months ending at --end. Values are
seasonal (a summer peak of a client-specific size), trend a little, carry ±6 % noise, and about
one value in 2,000 is a planted anomaly (a spike ×3–5 or a drop to under 20 %). The same seed
gives the same data.

The consumptions' indexes and foreign key are dropped for the load and rebuilt afterwards
(parallel, with a large maintenance_work_mem), then VACUUM ANALYZE sets the visibility map
(index-only scans) and statistics. It also makes sure the viewer user `bench-viewer`
exists, for bench/run.py's tokens.

The per-client summaries (client_totals, client_trailing_years: 13.1 M rows at 12 M records;
flagged_months, the anomalies) are computed here from the values as they are generated and
copied in parallel with the records, on a second connection; --verify N checks N clients (half
of them random, half among those with flagged months) against the repository's own rebuild.
The portfolio summaries, and flagged_month_counts, are rebuilt by the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import secrets
import sys
import time
from bisect import bisect_left, insort
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import sub
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth import repository as users_repository
from energy_api.auth import service as auth_service
from energy_api.auth.models import Role
from energy_api.cli import migrate
from energy_api.clients.documents import complete_cpf
from energy_api.clients.models import Client
from energy_api.config import Settings
from energy_api.db import create_engine, create_sessionmaker
from energy_api.months import from_index, parse_month_only
from energy_api.months import index as month_index
from energy_api.months import shift as shift_month
from energy_api.summaries import service as summaries_service
from energy_api.summaries.models import (
    ClientTotal,
    ClientTrailingYear,
    FlaggedMonth,
    FlaggedMonthCount,
)
from energy_api.summaries.rule import (
    FLAGGED_COLUMNS,
    HISTORY_MONTHS,
    MAD_MIN_HISTORY,
    TRAILING_MONTHS,
)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/energy_bench"
BENCH_USER = "bench-viewer"
CLIENTS_PER_CHUNK = 1_000
ANOMALY_RATE = 1 / 2_000
NOISE_TABLE_BITS = 16
TRAILING = TRAILING_MONTHS

# Rebuilt after the load, exactly as migrations 20261129_0001, 0005 and 0006 define them.
CONSUMPTION_INDEXES = (
    "ALTER TABLE consumptions ADD CONSTRAINT pk_consumptions PRIMARY KEY (id)",
    "ALTER TABLE consumptions ADD CONSTRAINT uq_consumptions_client_id_month "
    "UNIQUE (client_id, month)",
    "CREATE INDEX ix_consumptions_month_kwh_client_id ON consumptions (month, kwh, client_id)",
    "ALTER TABLE consumptions ADD CONSTRAINT fk_consumptions_client_id_clients "
    "FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE",
)
CLIENT_SUMMARY_INDEXES = (
    "ALTER TABLE client_trailing_years ADD CONSTRAINT pk_client_trailing_years "
    "PRIMARY KEY (client_id, month)",
    "CREATE INDEX ix_client_trailing_years_month_total_cents_client_id "
    "ON client_trailing_years (month, total_cents DESC, client_id)",
    "ALTER TABLE client_trailing_years ADD CONSTRAINT fk_client_trailing_years_client_id_clients "
    "FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE",
    "ALTER TABLE client_totals ADD CONSTRAINT pk_client_totals PRIMARY KEY (client_id)",
    "CREATE INDEX ix_client_totals_total_cents_client_id "
    "ON client_totals (total_cents DESC, client_id)",
    "ALTER TABLE client_totals ADD CONSTRAINT fk_client_totals_client_id_clients "
    "FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE",
    "ALTER TABLE flagged_months ADD CONSTRAINT pk_flagged_months PRIMARY KEY (client_id, month)",
    "CREATE INDEX ix_flagged_months_month_client_id ON flagged_months (month DESC, client_id)",
    "ALTER TABLE flagged_months ADD CONSTRAINT fk_flagged_months_client_id_clients "
    "FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE",
)
DROP_INDEXES = (
    "ALTER TABLE consumptions DROP CONSTRAINT IF EXISTS fk_consumptions_client_id_clients",
    "ALTER TABLE consumptions DROP CONSTRAINT IF EXISTS uq_consumptions_client_id_month",
    "ALTER TABLE consumptions DROP CONSTRAINT IF EXISTS pk_consumptions",
    "DROP INDEX IF EXISTS ix_consumptions_month_kwh_client_id",
    "ALTER TABLE client_trailing_years DROP CONSTRAINT IF EXISTS "
    "fk_client_trailing_years_client_id_clients",
    "ALTER TABLE client_trailing_years DROP CONSTRAINT IF EXISTS pk_client_trailing_years",
    "DROP INDEX IF EXISTS ix_client_trailing_years_month_total_cents_client_id",
    "ALTER TABLE client_totals DROP CONSTRAINT IF EXISTS fk_client_totals_client_id_clients",
    "ALTER TABLE client_totals DROP CONSTRAINT IF EXISTS pk_client_totals",
    "DROP INDEX IF EXISTS ix_client_totals_total_cents_client_id",
    "ALTER TABLE flagged_months DROP CONSTRAINT IF EXISTS fk_flagged_months_client_id_clients",
    "ALTER TABLE flagged_months DROP CONSTRAINT IF EXISTS pk_flagged_months",
    "DROP INDEX IF EXISTS ix_flagged_months_month_client_id",
)


@dataclass(frozen=True)
class Urls:
    sqlalchemy: str  # postgresql+asyncpg://…
    dsn: str  # postgresql://… for asyncpg
    admin_dsn: str  # the same server's `postgres` database
    database: str


def urls(database_url: str) -> Urls:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        raise SystemExit("generate: --database-url must be a postgresql:// URL with a database")
    plain = url.set(drivername="postgresql")
    return Urls(
        sqlalchemy=url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
        dsn=plain.render_as_string(hide_password=False),
        admin_dsn=plain.set(database="postgres").render_as_string(hide_password=False),
        database=url.database,
    )


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url, environment="development")


async def ensure_database(target: Urls, *, recreate: bool) -> None:
    connection = await asyncpg.connect(target.admin_dsn)
    try:
        if recreate:
            await connection.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", target.database
        )
        if not exists:
            await connection.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await connection.close()


def cpf(base: int) -> str:
    """A valid CPF whose first nine digits are `base` (zero-padded)."""
    return complete_cpf(f"{base % 1_000_000_000:09d}")


def month_list(end: date, count: int) -> list[date]:
    """The `count` consecutive months ending at `end`."""
    last = month_index(end)
    return [from_index(number) for number in range(last - count + 1, last + 1)]


class ValueModel:
    """Per client: a log-normal base, a seasonal swing peaking in January, a yearly trend."""

    def __init__(self, seed: int, months: list[date]) -> None:
        self.rng = random.Random(seed)
        self.months = months
        self.month_text = [m.isoformat() for m in months]
        # cos of the calendar month: +1 in January (southern summer), −1 in July.
        self.season = [math.cos(2 * math.pi * (m.month - 1) / 12) for m in months]
        self.years_from_start = [i / 12 for i in range(len(months))]
        gauss = random.Random(seed + 1).gauss
        self.noise = [max(0.7, 1 + gauss(0, 0.06)) for _ in range(1 << NOISE_TABLE_BITS)]

    def client_cents(self) -> list[int]:
        rng = self.rng
        base = math.exp(rng.gauss(5.5, 0.6))  # median ≈ 245 kWh a month
        if rng.random() < 0.05:
            base *= rng.uniform(8, 30)  # shops and small industry
        swing = rng.uniform(0.05, 0.3)
        growth = rng.uniform(-0.03, 0.05)
        noise, bits = self.noise, rng.getrandbits
        values = [
            round(
                100
                * base
                * (1 + swing * season)
                * (1 + growth * years)
                * noise[bits(NOISE_TABLE_BITS)]
            )
            for season, years in zip(self.season, self.years_from_start, strict=True)
        ]
        for index in range(len(values)):
            if rng.random() < ANOMALY_RATE:
                factor = rng.uniform(3, 5) if rng.random() < 0.6 else rng.uniform(0, 0.2)
                values[index] = round(values[index] * factor)
        return values


Flag = tuple[int, int, int, int | None, int | None, str, str, str]


def ratio_half_away(numerator: int, denominator: int, scale: int = 1) -> int | None:
    """round(numerator × scale ÷ denominator), halves away from zero, as SQL's ratio_half_away."""
    if denominator == 0:
        return None
    scaled = numerator * scale
    if scaled >= 0:
        return (2 * scaled + denominator) // (2 * denominator)
    return -((2 * -scaled + denominator) // (2 * denominator))


def judge(values: list[int]) -> Iterator[Flag]:
    """The flagged months of one client's dense series of cents (a record every month).

    `summaries.rule` on the same integers (x in cents, the median doubled, the MAD
    quadrupled), yielding (month offset, kwh_cents, reference_cents, deviation_bp,
    score_hundredths, method, severity, direction). In a dense series a month has six months
    of history exactly when it is six or more months in, and before that it has no year
    before either, so every judged month uses the MAD. --verify compares the result with the
    rule's SQL.

    The window is kept sorted as it slides. Most months are cleared without the MAD: the a + 1
    values nearest the median (a = (n − 1) // 2) lie within MAD of it, so 4·MAD ≥ 2·w, w being
    the narrowest span of a + 1 consecutive sorted values, and |score| ≤ 3.5 follows from
    6745·|4x − 2·med₂| ≤ 35000·2w when w > 0.
    """
    window = sorted(values[: MAD_MIN_HISTORY - 1])
    for offset in range(MAD_MIN_HISTORY, len(values)):
        insort(window, values[offset - 1])
        if offset > HISTORY_MONTHS:
            del window[bisect_left(window, values[offset - HISTORY_MONTHS - 1])]
        n = len(window)
        a, b = (n - 1) // 2, n // 2
        med2 = window[a] + window[b]
        x = values[offset]
        gap4 = 4 * x - 2 * med2
        narrowest = min(map(sub, window[a:], window))
        if narrowest > 0 and 6745 * abs(gap4) <= 70_000 * narrowest:
            continue
        distances = sorted([abs(2 * v - med2) for v in window])
        mad4 = distances[a] + distances[b]
        score: int | None = None
        if mad4 > 0:
            level = 6745 * abs(gap4)
            if level > 70_000 * mad4:
                severity = "critica"
            elif level > 35_000 * mad4:
                severity = "alerta"
            else:
                continue
            score = ratio_half_away(6745 * gap4, 100 * mad4)
        else:
            gap2 = abs(2 * x - med2)
            if 2 * gap2 <= med2:
                continue
            severity = "critica" if gap2 >= med2 else "alerta"
        yield (
            offset,
            x,
            (med2 + 1) // 2,  # the median, half-up: half_up_div(med2, 2)
            ratio_half_away(2 * x - med2, med2, 10_000),
            score,
            "mad",
            severity,
            "alta" if 2 * x > med2 else "baixa",
        )


@dataclass
class Chunk:
    consumptions: bytes  # COPY text: id, client_id, month, kwh
    trailing: bytes  # COPY text: client_id, month, total_cents, months
    totals: list[tuple[int, int, int]]  # client_id, total_cents, months
    last_client: int
    flagged: list[tuple[Any, ...]] = field(default_factory=list)  # flagged_months rows


def chunks(clients: int, months: list[date], seed: int) -> Iterator[Chunk]:
    """The records of CLIENTS_PER_CHUNK clients at a time, with their client summaries.

    Every client has every month, so the window ending at month index e holds the months
    max(0, e − 11)..min(e, M − 1), for e from 0 to M + 10.
    """
    model = ValueModel(seed, months)
    month_text = model.month_text
    window_text = [
        m.isoformat()
        for m in month_list(shift_month(months[-1], TRAILING - 1), len(months) + TRAILING - 1)
    ]
    per_client = len(months)
    for first in range(1, clients + 1, CLIENTS_PER_CHUNK):
        records: list[str] = []
        windows: list[str] = []
        totals: list[tuple[int, int, int]] = []
        flagged: list[tuple[Any, ...]] = []
        for client_id in range(first, min(first + CLIENTS_PER_CHUNK, clients + 1)):
            values = model.client_cents()
            flagged.extend((client_id, months[offset], *rest) for offset, *rest in judge(values))
            row_id = (client_id - 1) * per_client
            prefix = f"\t{client_id}\t"
            records.extend(
                f"{row_id + offset + 1}{prefix}{month_text[offset]}\t"
                f"{cents // 100}.{cents % 100:02d}\n"
                for offset, cents in enumerate(values)
            )
            running = 0
            for end, text in enumerate(window_text):
                if end < per_client:
                    running += values[end]
                if end >= TRAILING:
                    running -= values[end - TRAILING]
                count = min(end, per_client - 1) - max(0, end - TRAILING + 1) + 1
                windows.append(f"{client_id}\t{text}\t{running}\t{count}\n")
            totals.append((client_id, sum(values), per_client))
        yield Chunk(
            consumptions="".join(records).encode(),
            trailing="".join(windows).encode(),
            totals=totals,
            last_client=min(first + CLIENTS_PER_CHUNK - 1, clients),
            flagged=flagged,
        )


def client_chunks(clients: int) -> Iterator[bytes]:
    for first in range(1, clients + 1, 10_000):
        last = min(first + 10_000, clients + 1)
        yield "".join(f"{i}\tCliente {i:06d}\t{cpf(i)}\n" for i in range(first, last)).encode()


async def aiter_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


async def drain(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (data := await queue.get()) is not None:
        yield data


def log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:7.1f}s] {message}", flush=True)


async def session_for_bulk(dsn: str) -> asyncpg.Connection:
    connection = await asyncpg.connect(dsn)
    await connection.execute("SET maintenance_work_mem = '1GB'")
    await connection.execute("SET max_parallel_maintenance_workers = 2")
    await connection.execute("SET synchronous_commit = off")
    await connection.execute("SET statement_timeout = 0")
    return connection


async def run_all(
    connection: asyncpg.Connection, statements: Sequence[str], started: float
) -> None:
    for statement in statements:
        await connection.execute(statement)
        log(statement[:90], started)


async def load(target: Urls, clients: int, months: list[date], seed: int) -> None:
    """Two connections: records on one, client summaries on the other, in parallel."""
    started = time.perf_counter()
    records = await session_for_bulk(target.dsn)
    summaries = await session_for_bulk(target.dsn)
    try:
        async with records.transaction():
            await records.execute(
                "TRUNCATE consumptions, client_trailing_years, client_totals, flagged_months,"
                " flagged_month_counts, clients, portfolio_months, portfolio_month_links"
                " RESTART IDENTITY"
            )
            for statement in DROP_INDEXES:
                await records.execute(statement)
        await records.copy_to_table(
            "clients",
            source=aiter_chunks(client_chunks(clients)),
            columns=["id", "name", "document"],
        )
        log(f"{clients:,} clients copied", started)

        to_records: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)
        to_summaries: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)
        totals: list[tuple[int, int, int]] = []
        flagged: list[tuple[Any, ...]] = []

        async def produce() -> None:
            step = max(clients // 10, CLIENTS_PER_CHUNK)
            for chunk in chunks(clients, months, seed):
                await to_records.put(chunk.consumptions)
                await to_summaries.put(chunk.trailing)
                totals.extend(chunk.totals)
                flagged.extend(chunk.flagged)
                if chunk.last_client % step < CLIENTS_PER_CHUNK:
                    log(f"  … {chunk.last_client * len(months):,} records generated", started)
            await to_records.put(None)
            await to_summaries.put(None)

        await asyncio.gather(
            produce(),
            records.copy_to_table(
                "consumptions",
                source=drain(to_records),
                columns=["id", "client_id", "month", "kwh"],
            ),
            summaries.copy_to_table(
                "client_trailing_years",
                source=drain(to_summaries),
                columns=["client_id", "month", "total_cents", "months"],
            ),
        )
        await summaries.copy_records_to_table(
            "client_totals", records=totals, columns=["client_id", "total_cents", "months"]
        )
        await summaries.copy_records_to_table(
            "flagged_months", records=flagged, columns=list(FLAGGED_COLUMNS)
        )
        log(
            f"{clients * len(months):,} records and their client summaries copied"
            f" ({len(flagged):,} flagged months)",
            started,
        )
        await asyncio.gather(
            run_all(records, CONSUMPTION_INDEXES, started),
            run_all(summaries, CLIENT_SUMMARY_INDEXES, started),
        )
        for table in ("clients", "consumptions"):
            await records.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 1) FROM {table}))"
            )
        await asyncio.gather(
            records.execute("VACUUM (ANALYZE) consumptions"),
            summaries.execute(
                "VACUUM (ANALYZE) clients, client_trailing_years, client_totals, flagged_months"
            ),
        )
        log("VACUUM ANALYZE done", started)
    finally:
        await records.close()
        await summaries.close()

    settings = settings_for(target.sqlalchemy)
    engine = create_engine(target.sqlalchemy, settings, for_migrations=True)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await summaries_service.rebuild_portfolio(session)
        log("portfolio summaries rebuilt", started)
        async with create_sessionmaker(engine)() as session, session.begin():
            if await users_repository.get_by_username(session, BENCH_USER) is None:
                await auth_service.create_user(
                    session, BENCH_USER, secrets.token_urlsafe(16), Role.viewer
                )
                log(f"user {BENCH_USER!r} (viewer) created", started)
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(target.dsn)
    try:
        await connection.execute(
            "VACUUM (ANALYZE) portfolio_months, portfolio_month_links, flagged_month_counts"
        )
    finally:
        await connection.close()
    log("done", started)


async def verify(target: Urls, sample: int, seed: int) -> None:
    """The copied client summaries equal the repository's rebuild, for a sample of clients:
    half of them at random, half among the clients with flagged months."""
    settings = settings_for(target.sqlalchemy)
    engine = create_engine(target.sqlalchemy, settings, for_migrations=True)
    rng = random.Random(seed)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            clients = int(await session.scalar(select(func.max(Client.id))) or 0)
            chosen_set = set(rng.sample(range(1, clients + 1), sample - sample // 2))
            with_flags = sorted(
                set((await session.scalars(select(FlaggedMonth.client_id).distinct())).all())
                - chosen_set
            )
            chosen_set.update(rng.sample(with_flags, min(sample // 2, len(with_flags))))
            chosen = sorted(chosen_set)
            copied = await _client_summary_rows(session, chosen)
            await summaries_service.rebuild_clients(session, chosen)
            rebuilt = await _client_summary_rows(session, chosen)
            await session.rollback()
    finally:
        await engine.dispose()
    # The rolled-back rebuild left dead rows and cleared the visibility map of the pages it
    # touched: vacuum them, so the portfolio reads stay index-only.
    connection = await asyncpg.connect(target.dsn)
    try:
        await connection.execute(
            "VACUUM client_trailing_years, client_totals, flagged_months, flagged_month_counts"
        )
    finally:
        await connection.close()
    if copied != rebuilt:
        raise SystemExit("generate: the copied client summaries differ from a rebuild")
    flagged = sum(1 for row in copied if row[0] == "flagged")
    print(
        f"verified: the client summaries of {len(chosen)} clients ({flagged} flagged months)"
        " equal a rebuild"
    )


async def _client_summary_rows(session: AsyncSession, chosen: list[int]) -> list[tuple[Any, ...]]:
    trailing = await session.execute(
        select(ClientTrailingYear)
        .where(ClientTrailingYear.client_id.in_(chosen))
        .order_by(ClientTrailingYear.client_id, ClientTrailingYear.month)
    )
    totals = await session.execute(
        select(ClientTotal).where(ClientTotal.client_id.in_(chosen)).order_by(ClientTotal.client_id)
    )
    flagged = await session.execute(
        select(*(getattr(FlaggedMonth, name) for name in FLAGGED_COLUMNS))
        .where(FlaggedMonth.client_id.in_(chosen))
        .order_by(FlaggedMonth.client_id, FlaggedMonth.month)
    )
    counts = await session.execute(  # every month's: the rebuild recounts them all
        select(FlaggedMonthCount.month, FlaggedMonthCount.flagged)
        .where(FlaggedMonthCount.flagged != 0)
        .order_by(FlaggedMonthCount.month)
    )
    return [
        *((r.client_id, r.month, r.total_cents, r.months) for r in trailing.scalars()),
        *((r.client_id, r.total_cents, r.months) for r in totals.scalars()),
        *(("flagged", *row) for row in flagged.all()),
        *(("count", *row) for row in counts.all()),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--months", type=int, required=True)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--end", type=parse_month_only, default=date(2025, 12, 1), help="YYYY-MM")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument(
        "--recreate", action="store_true", help="drop the database first (it must be a bench one)"
    )
    parser.add_argument(
        "--verify", type=int, default=200, metavar="N", help="clients to check (0: none)"
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.months < 1:
        parser.error("--clients and --months must be positive")
    target = urls(args.database_url)
    asyncio.run(ensure_database(target, recreate=args.recreate))
    migrate(settings_for(target.sqlalchemy))
    months = month_list(args.end, args.months)
    print(
        f"loading {args.clients:,} clients × {len(months)} months "
        f"({months[0]:%Y-%m}..{months[-1]:%Y-%m}) into {target.database}",
        flush=True,
    )
    asyncio.run(load(target, args.clients, months, args.seed))
    if args.verify:
        asyncio.run(verify(target, min(args.verify, args.clients), args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
