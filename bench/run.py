"""Load-test the analytics endpoints as production serves them, and show their query plans.

    .venv/bin/python -m bench.run --runs 3 --reference \\
        --database-url postgresql://postgres@127.0.0.1:5432/energy_bench_12m

Fill the database first with bench/generate.py. This script migrates it, makes sure the viewer
`bench-viewer` exists and mints an access token for it, starts `energy-api serve --workers 2`
as production runs it (ENVIRONMENT=production, a random SECRET_KEY, a JSON log line per request
into bench/results/, metrics on their own port) and drives each endpoint with
wrk (-t2 -c64, bench/wrk.lua: a random client a request). Endpoints are measured round-robin,
`--runs` times each, so the machine's drift spreads over all of them; the table shows the
median and the range of the runs. Then it prints EXPLAIN (ANALYZE, BUFFERS) of every statement
each endpoint issues (captured from the service itself, for one random client) and says whether
any per-client plan has a sequential scan.

With --reference it also serves ../shared/bench/ref_asgi.py (2 uvicorn workers, uvloop,
httptools) on the same database and alternates media-consumo runs, ours then the reference's,
--ab-rounds times, and prints the ratio of the medians and the CPU time per request of each
server, of PostgreSQL and of wrk (`bench.cpu`).

wrk is Debian's package: apt-get update && apt-get install -y wrk
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, text

from bench.cpu import DEFAULT_PG_PID_FILE, CpuMeter, format_us, postmaster_pid
from bench.generate import BENCH_USER, DEFAULT_URL, Urls, urls
from energy_api.analytics import service as analytics_service
from energy_api.auth import repository as users_repository
from energy_api.auth import service as auth_service
from energy_api.auth.models import Role
from energy_api.cli import migrate
from energy_api.clients.models import Client
from energy_api.config import Settings
from energy_api.db import Reader, SessionReader, create_engine, create_sessionmaker
from energy_api.months import shift as shift_month
from energy_api.security import TokenType, encode_token
from energy_api.summaries.models import PortfolioMonth

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).with_name("wrk.lua")
RESULTS = Path(__file__).with_name("results")  # git-ignored: server logs
METRICS_PORT_OFFSET = 1000  # the service's metrics port: its API port + this
SHARED = ROOT.parent / "shared" / "bench"
API = "/api/v1/analytics"

ServiceCall = Callable[[Reader, int], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    per_client: bool
    query: str
    call: ServiceCall  # the same service call, for capturing the SQL it issues


@dataclass
class Run:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    # CPU µs per request by component (`bench.cpu`), where measured.
    cpu_us: dict[str, float] = field(default_factory=dict)


@dataclass
class Result:
    name: str
    per_client: bool
    runs: list[Run] = field(default_factory=list)
    seq_scan: bool | None = None
    statements: int = 0

    def median(self, attribute: str) -> float:
        if not self.runs:
            return math.nan
        return float(statistics.median(getattr(run, attribute) for run in self.runs))

    def spread(self, attribute: str) -> str:
        values = [getattr(run, attribute) for run in self.runs]
        return f"{min(values):,.0f}–{max(values):,.0f}" if len(values) > 1 else "—"


def endpoints(last: date) -> list[Endpoint]:
    year_start, series_start = shift_month(last, -11), shift_month(last, -119)
    last_year = f"de={year_start:%Y-%m}&ate={last:%Y-%m}"
    series = f"de={series_start:%Y-%m}&ate={last:%Y-%m}"

    async def ranking(reader: Reader, _: int) -> Any:
        return await analytics_service.ranking(reader, year_start, last, 10)

    async def portfolio_series(reader: Reader, _: int) -> Any:
        return await analytics_service.series(reader, None, "mes", series_start, last)

    async def portfolio_summary(reader: Reader, _: int) -> Any:
        return await analytics_service.summary(reader, None, None, None)

    def portfolio_anomalies(start: date | None, end: date | None, limit: int) -> ServiceCall:
        async def call(reader: Reader, _: int) -> Any:
            return await analytics_service.anomalies(reader, None, start, end, limit)

        return call

    return [
        Endpoint(
            "media-consumo",
            f"{API}/media-consumo/",
            True,
            "",
            lambda r, c: analytics_service.mean_consumption(r, c),
        ),
        Endpoint(
            "resumo (client)",
            f"{API}/resumo/",
            True,
            "",
            lambda r, c: analytics_service.summary(r, c, None, None),
        ),
        Endpoint(
            "serie-mensal (client, all months)",
            f"{API}/serie-mensal/",
            True,
            "",
            lambda r, c: analytics_service.series(r, c, "mes", None, None),
        ),
        Endpoint(
            "crescimento",
            f"{API}/crescimento/",
            True,
            "",
            lambda r, c: analytics_service.growth(r, c, None, None),
        ),
        Endpoint(
            "tendencia (12 months)",
            f"{API}/tendencia/",
            True,
            "meses=12",
            lambda r, c: analytics_service.trend(r, c, 12, None, None),
        ),
        Endpoint(
            "anomalias (client)",
            f"{API}/anomalias/",
            True,
            "",
            lambda r, c: analytics_service.anomalies(r, c, None, None, 100),
        ),
        Endpoint("resumo (portfolio)", f"{API}/resumo/", False, "", portfolio_summary),
        Endpoint(
            "ranking (12 months)",
            f"{API}/ranking/",
            False,
            last_year,
            ranking,
        ),
        Endpoint(
            "serie-mensal (portfolio, 120 months)",
            f"{API}/serie-mensal/",
            False,
            series,
            portfolio_series,
        ),
        Endpoint(
            "anomalias (portfolio, all months)",
            f"{API}/anomalias/",
            False,
            "limite=100",
            portfolio_anomalies(None, None, 100),
        ),
        Endpoint(
            "anomalias (portfolio, all months, limite=1000)",
            f"{API}/anomalias/",
            False,
            "limite=1000",
            portfolio_anomalies(None, None, 1000),
        ),
        Endpoint(
            "anomalias (portfolio, 12 months)",
            f"{API}/anomalias/",
            False,
            last_year,
            portfolio_anomalies(year_start, last, 100),
        ),
    ]


# --- wrk ---------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if match is None:
        raise ValueError(f"unexpected wrk duration {value!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk(output: str) -> Run:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    errors = 0
    if non_2xx := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(non_2xx[1])
    if socket := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(n) for n in socket.groups())
    total = re.search(r"(\d+) requests in", output)
    return Run(
        float(rps[1]),
        _duration_ms(p50[1]),
        _duration_ms(p99[1]),
        errors,
        requests=int(total[1]) if total else 0,
    )


def wrk(
    url: str, script: Path, env: dict[str, str], args: argparse.Namespace, duration: int
) -> Run:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    completed = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return parse_wrk(completed.stdout)


# --- servers -----------------------------------------------------------------------------------


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (a local http URL)
                return
        except urllib.error.HTTPError:
            return  # it answers (the reference says 401 without a token)
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answered at {url} within {timeout:.0f} s")


@contextmanager
def serving(
    command: Sequence[str], env: dict[str, str], probe: str
) -> Iterator[subprocess.Popen[bytes]]:
    RESULTS.mkdir(exist_ok=True)
    log = (RESULTS / f"server-{Path(command[0]).name}-{os.getpid()}.log").open("ab")
    process = subprocess.Popen(  # its own process group, so its workers stop with it
        command, env={**os.environ, **env}, start_new_session=True, stdout=log, stderr=log
    )
    try:
        wait_until_up(probe)
        yield process
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()


# --- database: token, months, plans -------------------------------------------------------------


def bench_settings(target: Urls, secret: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=target.sqlalchemy,
        secret_key=secret,
        environment="production",
        db_statement_timeout_ms=60_000,
    )


@dataclass
class Facts:
    token: str
    clients: int
    last_month: date


async def prepare(settings: Settings) -> Facts:
    engine = create_engine(settings.sqlalchemy_url, settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = await users_repository.get_by_username(session, BENCH_USER)
            if user is None:
                user = await auth_service.create_user(
                    session, BENCH_USER, secrets.token_urlsafe(16), Role.viewer
                )
            clients = await session.scalar(select(func.max(Client.id)))
            last = await session.scalar(
                select(func.max(PortfolioMonth.month)).where(PortfolioMonth.clients > 0)
            )
        if not clients or last is None:
            raise SystemExit("run: the database has no data; fill it with bench/generate.py")
        token = encode_token(
            settings, subject=str(user.id), token_type=TokenType.access, ttl=timedelta(hours=3)
        )
        return Facts(token=token, clients=int(clients), last_month=last)
    finally:
        await engine.dispose()


async def explain(
    settings: Settings, selected: list[Endpoint], client_id: int
) -> dict[str, tuple[list[str], bool]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement an endpoint's service call issues."""
    engine = create_engine(settings.sqlalchemy_url, settings)
    captured: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        if not statement.startswith("EXPLAIN"):
            captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    plans: dict[str, tuple[list[str], bool]] = {}
    try:
        for endpoint in selected:
            async with create_sessionmaker(engine)() as session:
                captured.clear()
                await endpoint.call(SessionReader(session), client_id)
                statements = list(captured)
                lines: list[str] = []
                for statement, parameters in statements:
                    result = await session.connection()
                    rows = await result.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                    )
                    lines.append(statement.strip())
                    lines.append(f"  parameters: {parameters!r}")
                    lines.extend("    " + row[0] for row in rows)
                    lines.append("")
                await session.rollback()
            seq_scan = any("Seq Scan" in line for line in lines)
            plans[endpoint.name] = (lines, seq_scan)
    finally:
        await engine.dispose()
    return plans


async def warm(settings: Settings) -> None:
    """Read the consumptions once, so the first endpoint measured does not pay the cold cache."""
    engine = create_engine(settings.sqlalchemy_url, settings)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SET statement_timeout = 0"))
            await connection.execute(text("SELECT count(*) FROM consumptions"))
    finally:
        await engine.dispose()


# --- the run ------------------------------------------------------------------------------------


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def table(results: list[Result]) -> str:
    header = (
        "| endpoint | scope | req/s (median) | req/s range | p50 ms | p99 ms | errors |"
        " seq scan |\n|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for r in results:
        scope = "client" if r.per_client else "portfolio"
        seq_scan = "—" if r.seq_scan is None else ("YES" if r.seq_scan else "no")
        rows.append(
            f"| {r.name} | {scope} | {r.median('requests_per_second'):,.0f}"
            f" | {r.spread('requests_per_second')} | {r.median('p50_ms'):.1f}"
            f" | {r.median('p99_ms'):.1f} | {sum(run.errors for run in r.runs)} | {seq_scan} |"
        )
    return "\n".join([header, *rows])


@dataclass
class Target:
    """One benchmark database, served by its own `energy-api serve` on its own port."""

    urls: Urls
    settings: Settings
    facts: Facts
    port: int

    @property
    def label(self) -> str:
        return self.urls.database

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def open_target(database_url: str, secret: str, port: int) -> Target:
    target = urls(database_url)
    settings = bench_settings(target, secret)
    migrate(settings)
    facts = asyncio.run(prepare(settings))
    print(
        f"database {target.database}: {facts.clients:,} clients, last month {facts.last_month}",
        flush=True,
    )
    asyncio.run(warm(settings))
    return Target(target, settings, facts, port)


# With --quiet-service two services (2 workers, a reader and an engine each) and the reference
# (2 × 10) share PostgreSQL's 100 connections.
QUIET_POOL_SIZE = 14


def serve_command(
    target: Target, workers: int, pool_size: int | None = None
) -> tuple[list[str], dict[str, str]]:
    energy_api = str(Path(sys.executable).with_name("energy-api"))
    command = [energy_api, "serve", "--workers", str(workers), "--port", str(target.port)]
    # As ops run it: a JSON line per request on stdout (into a file here, see `serving`) and
    # the Prometheus metrics of both workers on a port of their own.
    env = {
        "DATABASE_URL": target.urls.sqlalchemy,
        "SECRET_KEY": target.settings.jwt_key,
        "ENVIRONMENT": "production",
        "LOG_FORMAT": "json",
        "LOG_REQUESTS": "true",
        "METRICS_PORT": str(target.port + METRICS_PORT_OFFSET),
    }
    if pool_size is not None:
        env["DB_POOL_SIZE"] = str(pool_size)
    return command, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--compare-database-url",
        help="a second database (say the 240 k one), served side by side on --port + 1; "
        "every run alternates between the two and the p50 ratio is printed",
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per endpoint (0: plans only)")
    parser.add_argument("--only", nargs="*", help="endpoint names starting with these")
    parser.add_argument("--no-explain", dest="explain", action="store_false")
    parser.add_argument("--plans-out", type=Path, help="write the plans to this file")
    parser.add_argument("--json-out", type=Path, help="write the measurements as JSON")
    parser.add_argument("--reference", action="store_true", help="also run ref_asgi.py A/B")
    parser.add_argument("--ref-dir", type=Path, default=SHARED)
    parser.add_argument("--ref-port", type=int, default=8102)
    parser.add_argument("--ab-rounds", type=int, default=3)
    parser.add_argument(
        "--quiet-service",
        action="store_true",
        help="with --reference: also serve the service without request logs and metrics "
        "(LOG_REQUESTS=false, METRICS_PORT=0) in the A/B rounds, to show what they cost "
        "(not with --minimal: five servers' pools pass PostgreSQL's 100 connections)",
    )
    parser.add_argument(
        "--pg-pid-file",
        type=Path,
        default=DEFAULT_PG_PID_FILE,
        help="the postmaster.pid of the PostgreSQL serving the database, for its CPU time",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        help="DB_POOL_SIZE of the service (default: the service's own, 20; 14 with "
        "--quiet-service, so that both services and the reference fit in 100 connections)",
    )
    parser.add_argument(
        "--minimal",
        action="store_true",
        help="with --reference: also serve bench/minimal_app.py (the request as the smallest "
        "FastAPI app) in the A/B rounds",
    )
    args = parser.parse_args(argv)
    if args.quiet_service and args.pool_size is None:
        args.pool_size = QUIET_POOL_SIZE

    if shutil.which("wrk") is None and args.runs > 0:
        print(
            "run: wrk is not installed; install it with: apt-get update && apt-get install -y wrk",
            file=sys.stderr,
        )
        return 2
    secret = secrets.token_urlsafe(48)
    targets = [open_target(args.database_url, secret, args.port)]
    if args.compare_database_url:
        targets.append(open_target(args.compare_database_url, secret, args.port + 1))
    selected = {
        t.label: [
            e
            for e in endpoints(t.facts.last_month)
            if not args.only or any(e.name.startswith(prefix) for prefix in args.only)
        ]
        for t in targets
    }
    results = {
        (t.label, e.name): Result(e.name, e.per_client) for t in targets for e in selected[t.label]
    }
    ab: dict[str, list[Run]] = {"service": [], "reference": []}
    print(f"load average before: {load_average()} (cpus: {os.cpu_count()})", flush=True)
    if args.runs > 0:
        with ExitStack() as first_server:
            command, env = serve_command(targets[0], args.workers, args.pool_size)
            service = first_server.enter_context(
                serving(command, env, f"{targets[0].base}/health/")
            )
            with ExitStack() as other_servers:
                for t in targets[1:]:
                    command, env = serve_command(t, args.workers, args.pool_size)
                    other_servers.enter_context(serving(command, env, f"{t.base}/health/"))
                measure_endpoints(args, targets, selected, results)
            # The other server is stopped: the A/B servers get every connection the database
            # allows (max_connections 100 here: 2 × (20 + 1) of ours, 2 × 10 of the reference).
            if args.reference:
                ab = reference_ab(args, targets[0], secret, service.pid)
        print(f"load average after: {load_average()}")

    if args.explain:
        out: list[str] = []
        for t in targets:
            client_id = secrets.randbelow(t.facts.clients) + 1
            plans = asyncio.run(explain(t.settings, selected[t.label], client_id))
            for name, (lines, seq_scan) in plans.items():
                results[(t.label, name)].seq_scan = seq_scan
                flag = "SEQ SCAN" if seq_scan else ""
                out.append(f"=== {t.label}: {name} (cliente_id={client_id}) {flag}")
                out.extend(lines)
        text_out = "\n".join(out)
        if args.plans_out:
            args.plans_out.write_text(text_out + "\n")
            print(f"plans written to {args.plans_out}")
        else:
            print(text_out)

    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.runs} runs each, "
        f"{args.workers} workers"
        + (f", DB_POOL_SIZE {args.pool_size}" if args.pool_size is not None else "")
    )
    for t in targets:
        rows = [results[(t.label, e.name)] for e in selected[t.label]]
        print(f"\n{t.label} ({t.facts.clients:,} clients)")
        print(table(rows))
        if args.explain:
            with_seq = [r.name for r in rows if r.per_client and r.seq_scan]
            print("per-client plans with a Seq Scan: " + (", ".join(with_seq) or "none"))
    if len(targets) == 2 and args.runs > 0:
        first, second = targets
        print(f"\np50 {first.label} ÷ p50 {second.label} (median of the runs' ratios):")
        for e in selected[first.label]:
            a, b = results[(first.label, e.name)], results[(second.label, e.name)]
            ratios = [x.p50_ms / y.p50_ms for x, y in zip(a.runs, b.runs, strict=True)]
            each = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"  {e.name}: {statistics.median(ratios):.2f} ({each})")
    if args.reference and args.runs > 0:
        theirs = statistics.median(r.requests_per_second for r in ab["reference"])
        print(f"\nmedia-consumo A/B ({args.ab_rounds} rounds), req/s, ratio to the reference:")
        for name, measured in ab.items():
            rates = [r.requests_per_second for r in measured]
            median = statistics.median(rates)
            p50 = statistics.median(r.p50_ms for r in measured)
            p99 = statistics.median(r.p99_ms for r in measured)
            errors = sum(r.errors for r in measured)
            print(
                f"  {name}: {median:,.0f} {[round(r) for r in rates]}, ratio {median / theirs:.2f},"
                f" p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {errors}"
            )
            print(f"    CPU: {format_us(r.cpu_us for r in measured)}")
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "results": [
                        {"database": label, **asdict(result)}
                        for (label, _), result in results.items()
                    ],
                    "ab": {k: [asdict(r) for r in v] for k, v in ab.items()},
                },
                indent=1,
            )
        )
    return 0


def measure_endpoints(
    args: argparse.Namespace,
    targets: Sequence[Target],
    selected: dict[str, list[Endpoint]],
    results: dict[tuple[str, str], Result],
) -> None:
    """A short warm-up per endpoint, then `--runs` rounds over every endpoint and target."""
    for t in targets:
        for e in selected[t.label]:
            wrk(t.base + e.path, LUA, wrk_env(t.facts, e), args, duration=2)
    for run in range(args.runs):
        for index in range(len(selected[targets[0].label])):
            for t in targets:
                e = selected[t.label][index]
                measured = wrk(t.base + e.path, LUA, wrk_env(t.facts, e), args, args.duration)
                results[(t.label, e.name)].runs.append(measured)
                print(
                    f"run {run + 1}/{args.runs} {t.label} {e.name}:"
                    f" {measured.requests_per_second:,.0f} req/s,"
                    f" p50 {measured.p50_ms:.1f} ms, p99 {measured.p99_ms:.1f} ms,"
                    f" errors {measured.errors} (load {load_average()})",
                    flush=True,
                )


def wrk_env(facts: Facts, endpoint: Endpoint) -> dict[str, str]:
    return {
        "WRK_TOKEN": facts.token,
        "WRK_PATH": endpoint.path,
        "WRK_CLIENTS": str(facts.clients if endpoint.per_client else 0),
        "WRK_QUERY": endpoint.query,
    }


def reference_ab(
    args: argparse.Namespace, target: Target, secret: str, service_pgid: int
) -> dict[str, list[Run]]:
    """media-consumo from the service and from ref_asgi.py, alternating A B A B …, with the
    CPU time each request cost the server, PostgreSQL and wrk (`bench.cpu`)."""
    media = args.ref_dir / "media.lua"
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    command = [uvicorn, "ref_asgi:app", "--app-dir", str(args.ref_dir), "--workers", "2"]
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    command += ["--port", str(args.ref_port)]
    ref_env = {
        "REF_DSN": target.urls.dsn,
        "REF_TABLE": "consumptions",
        "REF_FK": "client_id",
        "REF_VALUE": "kwh",
        "REF_MONTH": "month",
        "REF_SECRET": secret,
    }
    env = {
        "WRK_TOKEN": target.facts.token,
        "WRK_CLIENTS": str(target.facts.clients),
        "WRK_PATH": f"{API}/media-consumo/",
    }
    ref_base = f"http://127.0.0.1:{args.ref_port}"
    postmaster = postmaster_pid(args.pg_pid_file)
    meters = {"service": CpuMeter(service_pgid, postmaster)}
    contenders = [("service", target.base), ("reference", ref_base)]
    runs: dict[str, list[Run]] = {"service": [], "reference": []}
    with ExitStack() as servers:
        reference = servers.enter_context(serving(command, ref_env, f"{ref_base}/"))
        meters["reference"] = CpuMeter(reference.pid, postmaster)
        wrk(ref_base + env["WRK_PATH"], media, env, args, duration=2)
        if args.minimal:
            minimal_base = f"http://127.0.0.1:{args.ref_port + 1}"
            minimal = [uvicorn, "bench.minimal_app:app", "--app-dir", str(ROOT), "--workers", "2"]
            minimal += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
            minimal += ["--port", str(args.ref_port + 1)]
            minimal_env = {"MINIMAL_DSN": target.urls.dsn, "MINIMAL_SECRET": secret}
            smallest = servers.enter_context(serving(minimal, minimal_env, f"{minimal_base}/docs"))
            meters["minimal FastAPI"] = CpuMeter(smallest.pid, postmaster)
            wrk(minimal_base + env["WRK_PATH"], media, env, args, duration=2)
            contenders.insert(1, ("minimal FastAPI", minimal_base))
            runs["minimal FastAPI"] = []
        if args.quiet_service:
            # The same service without its request log and metrics: what they cost.
            quiet = Target(target.urls, target.settings, target.facts, args.ref_port + 2)
            quiet_command, quiet_env = serve_command(quiet, args.workers, args.pool_size)
            quiet_env.update(LOG_REQUESTS="false", METRICS_PORT="0")
            quiet_server = servers.enter_context(
                serving(quiet_command, quiet_env, f"{quiet.base}/health/")
            )
            meters["service, no logs/metrics"] = CpuMeter(quiet_server.pid, postmaster)
            wrk(quiet.base + env["WRK_PATH"], media, env, args, duration=2)
            contenders.insert(1, ("service, no logs/metrics", quiet.base))
            runs["service, no logs/metrics"] = []
        for round_ in range(args.ab_rounds):
            for name, url in contenders:
                before = meters[name].sample()
                measured = wrk(url + env["WRK_PATH"], media, env, args, args.duration)
                measured.cpu_us = CpuMeter.per_request(
                    before, meters[name].sample(), measured.requests
                )
                runs[name].append(measured)
                print(
                    f"A/B {round_ + 1}/{args.ab_rounds} {name}: "
                    f"{measured.requests_per_second:,.0f} req/s, p50 {measured.p50_ms:.1f} ms,"
                    f" errors {measured.errors} (load {load_average()})",
                    flush=True,
                )
    return runs


if __name__ == "__main__":
    sys.exit(main())
