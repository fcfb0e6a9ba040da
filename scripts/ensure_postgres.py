"""Make sure the test PostgreSQL answers: start a local cluster that is installed but stopped.

Exits 0 when a server answers at TEST_DATABASE_URL (default postgres@127.0.0.1:5432), else
prints one line saying why and exits 1.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time

import asyncpg
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/"


async def _answers(dsn: str) -> bool:
    try:
        connection = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


def _dsn() -> str:
    url = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_URL))
    return url.set(drivername="postgresql", database=url.database or "postgres").render_as_string(
        hide_password=False
    )


def _start_local_clusters() -> None:
    if shutil.which("pg_lsclusters") is None:
        return
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    )
    for line in listing.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "down":
            version, name = fields[0], fields[1]
            print(f"starting PostgreSQL cluster {version}/{name}", file=sys.stderr)
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"],
                check=False,
            )


def main() -> int:
    dsn = _dsn()
    if asyncio.run(_answers(dsn)):
        return 0
    _start_local_clusters()
    for _ in range(20):
        if asyncio.run(_answers(dsn)):
            return 0
        time.sleep(0.5)
    shown = make_url(dsn).render_as_string(hide_password=True)
    print(f"no PostgreSQL reachable at {shown} (set TEST_DATABASE_URL)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
