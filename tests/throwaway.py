"""Throwaway PostgreSQL clusters, streaming replicas and PgBouncer, for tests that stop,
replicate or proxy a database (never the shared server).

Each runs from a fresh temporary directory on a free port, as the `postgres` OS user when the
tests run as root (PostgreSQL and PgBouncer refuse to run as root). `skip_unless_available`
skips a test in one line when a binary truly cannot be found.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from energy_api.cli import migrate
from tests.conftest import make_settings

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def find_binary(name: str) -> str | None:
    for directory in PG_BIN_DIRS:
        if (directory / name).is_file():
            return str(directory / name)
    return shutil.which(name) or next(
        (str(Path(d) / name) for d in ("/usr/sbin", "/usr/bin") if (Path(d) / name).is_file()),
        None,
    )


def skip_unless_available(*names: str) -> None:
    missing = [name for name in names if find_binary(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make test installs pgbouncer with apt)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _run(command: list[str]) -> None:
    result = subprocess.run(_as_owner(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stderr.strip() or result.stdout.strip()}")


@contextlib.contextmanager
def owned_directory(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o700)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _wait_for_port(port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port}")
        time.sleep(0.05)


@dataclass
class Cluster:
    data: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = find_binary("pg_ctl")
        assert pg_ctl
        _run(
            [
                pg_ctl,
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.data / "log"),
                "-w",
                "start",
            ]
        )

    def stop(self) -> None:
        pg_ctl = find_binary("pg_ctl")
        assert pg_ctl
        with contextlib.suppress(RuntimeError):
            _run([pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    """A new cluster (trust authentication, replication allowed from 127.0.0.1), started."""
    initdb = find_binary("initdb")
    assert initdb
    with owned_directory("energy-pg-") as root:
        data = root / "data"
        _run([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        running = Cluster(data, free_port())
        running.start()
        try:
            yield running
        finally:
            running.stop()


@contextlib.contextmanager
def replica(primary: Cluster) -> Iterator[Cluster]:
    """A streaming replica of `primary` (`pg_basebackup -R`), started and hot (read-only)."""
    basebackup = find_binary("pg_basebackup")
    assert basebackup
    with owned_directory("energy-replica-") as root:
        data = root / "data"
        _run(
            [
                basebackup,
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(data),
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "--checkpoint=fast",
            ]
        )
        running = Cluster(data, free_port())
        running.start()
        try:
            yield running
        finally:
            running.stop()


@dataclass
class Bouncer:
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"


@contextlib.contextmanager
def pgbouncer(target: Cluster, *, pool_size: int = 10) -> Iterator[Bouncer]:
    """PgBouncer in transaction mode in front of `target`, configured as it usually is."""
    binary = find_binary("pgbouncer")
    assert binary
    with owned_directory("energy-pgbouncer-") as root:
        port = free_port()
        (root / "userlist.txt").write_text('"postgres" ""\n')
        (root / "pgbouncer.ini").write_text(
            f"""[databases]
* = host=127.0.0.1 port={target.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
logfile = {root}/pgbouncer.log
pidfile = {root}/pgbouncer.pid
"""
        )
        for name in ("userlist.txt", "pgbouncer.ini"):
            if os.geteuid() == 0:
                shutil.chown(root / name, "postgres", "postgres")
        process = subprocess.Popen(
            _as_owner([binary, str(root / "pgbouncer.ini")]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port)
            yield Bouncer(port)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def create_migrated_database(primary: Cluster, name: str) -> None:
    """A database `name` on `primary`, built by the migrations."""

    async def create() -> None:
        connection = await asyncpg.connect(primary.dsn())
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    migrate(make_settings(primary.url(name)))
