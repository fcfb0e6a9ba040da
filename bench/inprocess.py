"""The app's own CPU per request, in-process: no HTTP server, no wrk, no network.

    .venv/bin/python -m bench.inprocess --requests 20000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/energy_bench_240k

Builds the app as production does (JSON request log into a file, metrics on), runs its
lifespan, and calls it as an ASGI application from 32 concurrent tasks with a viewer's token,
a random client per request. It prints the process's CPU time per request (the app, the
asyncpg driver and the log writer thread; not PostgreSQL) and the statuses. Much less noisy
than a wrk run, so it shows a change of a few µs; `bench.run` measures what a client sees.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import uvloop

from bench.generate import DEFAULT_URL, urls
from bench.run import RESULTS, bench_settings, prepare
from energy_api.main import create_app
from energy_api.observability.logging import configure_logging

CONCURRENCY = 32


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--path", default="/api/v1/analytics/media-consumo/")
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args(argv)

    settings = bench_settings(urls(args.database_url), secrets.token_urlsafe(32))
    facts = asyncio.run(prepare(settings))
    settings = settings.model_copy(update={"log_format": "json", "log_requests": True})
    RESULTS.mkdir(exist_ok=True)
    log = (RESULTS / "inprocess.log").open("w")
    app = create_app(settings)
    configure_logging(settings, stream=log)  # create_app wrote to stdout
    headers = [(b"host", b"bench"), (b"authorization", b"Bearer " + facts.token.encode())]
    statuses: Counter[int] = Counter()

    async def request(client_id: int) -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": args.path,
            "raw_path": args.path.encode(),
            "root_path": "",
            "query_string": f"cliente_id={client_id}".encode(),
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] += 1

        await app(scope, receive, send)

    async def task(count: int) -> None:
        for _ in range(count):
            await request(random.randint(1, facts.clients))

    async def run() -> tuple[float, float]:
        async with app.router.lifespan_context(app):
            await asyncio.gather(*(task(100) for _ in range(CONCURRENCY)))  # warm up
            statuses.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(task(args.requests // CONCURRENCY) for _ in range(CONCURRENCY)))
            return time.process_time() - cpu, time.perf_counter() - wall

    cpu, wall = uvloop.run(run())
    log.close()
    done = sum(statuses.values())
    print(
        f"{args.path}: {cpu / done * 1e6:,.1f} µs CPU a request, {done / wall:,.0f} requests/s"
        f" on one core; statuses {dict(statuses)}; request log in {Path(log.name).name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
