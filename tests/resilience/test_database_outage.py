"""The database goes away under load and comes back: 503s, then recovery, and nothing lost.

The test starts a PostgreSQL cluster of its own (initdb + pg_ctl in a temporary folder, on a
free port; never the shared server), runs the real app against it under a write load, stops
the server with `pg_ctl stop -m immediate` (a crash, as far as clients can tell), starts it
again, and records what every request got. The tests below each check one rule on that run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from httpx import AsyncClient

from energy_api.auth.models import Role
from energy_api.cli import migrate
from energy_api.errors import PROBLEM_MEDIA_TYPE
from tests.conftest import access_token, make_settings
from tests.factories import next_cpf
from tests.resilience.conftest import add_committed_user, running_app

pytestmark = pytest.mark.postgres_only

POOL_TIMEOUT = 2.0
BOUND = POOL_TIMEOUT + 1  # every request during the outage is answered within this
RECOVERY_BOUND = 5.0
WRITERS = 4
OUTAGE_SECONDS = 3.0


def _postgres_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Cluster:
    """A throwaway PostgreSQL cluster; run as the `postgres` user when we are root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="energy-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w",
            "start",
        )  # fmt: skip

    def stop_immediately(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop_immediately()
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@dataclass
class Outcome:
    status: int
    content_type: str
    started: float
    elapsed: float
    key: str = ""
    document: str = ""


@dataclass
class Run:
    writes: list[Outcome] = field(default_factory=list)
    reads: list[Outcome] = field(default_factory=list)
    down_at: float = 0.0  # pg_ctl stop returned
    restarting_at: float = 0.0  # pg_ctl start was called
    up_at: float = 0.0  # pg_ctl start returned
    recovered_at: float = float("inf")
    health_during_outage: tuple[int, dict[str, str]] | None = None
    load_finished: bool = False
    clients: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    written: asyncio.Event = field(default_factory=asyncio.Event)  # a write was answered 201

    def during_outage(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Requests sent and answered while the server was surely down."""
        return [
            o
            for o in outcomes
            if o.started > self.down_at and o.started + o.elapsed < self.restarting_at
        ]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    cluster = Cluster(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


async def _writer(
    client: AsyncClient, headers: dict[str, str], run: Run, stop: asyncio.Event
) -> None:
    for _ in range(5000):  # bounded, whatever happens
        if stop.is_set():
            return
        key, document = uuid.uuid4().hex, next_cpf()
        started = time.monotonic()
        response = await client.post(
            "/api/v1/clientes/",
            json={"nome": "Carga", "documento": document},
            headers={**headers, "Idempotency-Key": key},
        )
        run.writes.append(
            Outcome(
                response.status_code,
                response.headers.get("content-type", ""),
                started,
                time.monotonic() - started,
                key,
                document,
            )
        )
        if response.status_code == 201:
            run.written.set()
        await asyncio.sleep(0.01)


async def _reader(
    client: AsyncClient, headers: dict[str, str], run: Run, stop: asyncio.Event
) -> None:
    for _ in range(5000):
        if stop.is_set():
            return
        started = time.monotonic()
        response = await client.get("/api/v1/clientes/?limit=1", headers=headers)
        run.reads.append(
            Outcome(
                response.status_code,
                response.headers.get("content-type", ""),
                started,
                time.monotonic() - started,
            )
        )
        await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
async def outage(cluster: Cluster) -> Run:
    admin = await asyncpg.connect(cluster.dsn("postgres"))
    await admin.execute("CREATE DATABASE energy")
    await admin.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{cluster.port}/energy"
    settings = make_settings(url, db_pool_timeout=POOL_TIMEOUT, db_connect_timeout=POOL_TIMEOUT)
    await asyncio.to_thread(migrate, settings)
    editor = await add_committed_user(url, Role.editor)
    headers = {"Authorization": f"Bearer {access_token(settings, editor)}"}
    run = Run()
    stop = asyncio.Event()

    async with running_app(settings) as client:
        load = [
            *(asyncio.create_task(_writer(client, headers, run, stop)) for _ in range(WRITERS)),
            asyncio.create_task(_reader(client, headers, run, stop)),
        ]
        # Healthy traffic first: until writes succeed (a cold app on a new cluster may take a
        # moment on a busy machine), then a little more.
        async with asyncio.timeout(RECOVERY_BOUND * 2):
            await run.written.wait()
        await asyncio.sleep(0.5)

        await asyncio.to_thread(cluster.stop_immediately)
        run.down_at = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS / 2)
        health = await client.get("/health/")
        run.health_during_outage = (health.status_code, health.json())
        await asyncio.sleep(OUTAGE_SECONDS / 2)

        run.restarting_at = time.monotonic()
        await asyncio.to_thread(cluster.start)
        run.up_at = time.monotonic()  # pg_ctl -w returned: the server accepts connections
        for _ in range(int(RECOVERY_BOUND * 4 / 0.05)):
            probe = await client.get("/api/v1/clientes/?limit=1", headers=headers)
            if probe.status_code == 200:
                run.recovered_at = time.monotonic()
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # healthy traffic after

        stop.set()
        async with asyncio.timeout(BOUND * 2):
            await asyncio.gather(*load)
        run.load_finished = True

    connection = await asyncpg.connect(cluster.dsn("energy"))
    try:
        run.clients = {
            row["document"] for row in await connection.fetch("SELECT document FROM clients")
        }
        run.keys = {
            row["key"] for row in await connection.fetch("SELECT key FROM idempotency_keys")
        }
    finally:
        await connection.close()
    unavailable = [o for o in run.writes + run.reads if o.status == 503]
    print(  # the numbers worth quoting, shown with -s
        f"\noutage run: {len(run.writes)} writes, {len(run.reads)} reads, "
        f"{len(unavailable)} answered 503 (slowest {max(o.elapsed for o in unavailable):.3f} s), "
        f"recovered {run.recovered_at - run.up_at:.2f} s after the server was back"
    )
    return run


def test_load_ran_before_during_and_after_the_outage(outage: Run) -> None:
    assert any(o.started + o.elapsed < outage.down_at and o.status == 201 for o in outage.writes)
    assert outage.during_outage(outage.writes)
    assert any(o.started > outage.recovered_at and o.status == 201 for o in outage.writes)


def test_requests_during_the_outage_answer_503_problem(outage: Run) -> None:
    answered = outage.during_outage(outage.writes + outage.reads)
    assert {(o.status, o.content_type) for o in answered} == {(503, PROBLEM_MEDIA_TYPE)}


def test_requests_during_the_outage_answer_within_pool_timeout_plus_one_second(
    outage: Run,
) -> None:
    slowest = max(o.elapsed for o in outage.writes + outage.reads if o.status == 503)
    assert slowest <= BOUND


def test_health_says_disconnected_during_the_outage(outage: Run) -> None:
    assert outage.health_during_outage == (503, {"status": "error", "database": "disconnected"})


def test_service_recovers_by_itself_within_5_seconds(outage: Run) -> None:
    assert outage.recovered_at - outage.up_at <= RECOVERY_BOUND


def test_no_request_hangs(outage: Run) -> None:
    assert outage.load_finished
    assert {o.status for o in outage.writes} <= {201, 503}


def test_every_acknowledged_write_is_in_the_database(outage: Run) -> None:
    acknowledged = [o for o in outage.writes if o.status == 201]
    assert {o.document for o in acknowledged} <= outage.clients
    assert {o.key for o in acknowledged} <= outage.keys


def test_no_failed_write_is_half_written(outage: Run) -> None:
    """A failed write left nothing, or (committed before its answer was lost) left both the
    client and the record of its response, never one without the other."""
    for o in outage.writes:
        if o.status != 201:
            assert (o.document in outage.clients) == (o.key in outage.keys), o
