"""Serve several revisions of the service side by side and measure the per-client analytics of
each, alternating, on one database.

    .venv/bin/python -m bench.versions 550a9a6 HEAD --rounds 3 --duration 5 \\
        --database-url postgresql://postgres@127.0.0.1:5432/energy_bench_240k

Each revision is checked out into a temporary worktree and served as `bench.run` serves the
service (production settings, JSON request log, metrics on their own port), with that
worktree's `src` first on PYTHONPATH and this checkout's virtualenv for the libraries. Every
round runs each endpoint against each revision in turn, so the machine's drift hits them alike.
The table shows the median req/s and p99 of each, and each revision's ratio to the first, then
the CPU µs per request of each (`bench.cpu`: the server's processes, PostgreSQL, wrk).
The database is migrated by this checkout; an older revision reads the tables it knows.
Every server gets `--pool-size` connections per pool, so that all of them fit in PostgreSQL's
100 connections at once.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.cpu import CpuMeter, format_us, postmaster_pid
from bench.generate import DEFAULT_URL
from bench.run import (
    ROOT,
    Run,
    Target,
    endpoints,
    open_target,
    serve_command,
    serving,
    wrk,
    wrk_env,
)

PER_CLIENT = (
    "media-consumo",
    "resumo (client)",
    "serie-mensal (client",
    "crescimento",
    "tendencia",
    "anomalias (client)",
)


def worktree(revision: str, parent: Path) -> Path:
    path = parent / revision.replace("/", "-")
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), revision],
        check=True,
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.versions", description=__doc__)
    parser.add_argument("revisions", nargs="+", help="git revisions, the first is the baseline")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="endpoint names starting with these")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=12,
        help="DB_POOL_SIZE of every server: their pools share PostgreSQL's 100 connections",
    )
    args = parser.parse_args(argv)

    secret = secrets.token_urlsafe(32)
    first = open_target(args.database_url, secret, args.port)
    selected = [e for e in endpoints(first.facts.last_month) if e.name.startswith(PER_CLIENT)]
    if args.only:
        selected = [e for e in selected if e.name.startswith(tuple(args.only))]
    script = ROOT / "bench" / "wrk.lua"
    results: dict[tuple[str, str], list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-versions-") as parent, ExitStack() as stack:
        stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "prune"], check=False)
        postmaster = postmaster_pid()
        bases: list[tuple[str, str]] = []
        meters: dict[str, CpuMeter] = {}
        for number, revision in enumerate(args.revisions):
            tree = worktree(revision, Path(parent))
            stack.callback(
                subprocess.run,
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                check=False,
            )
            target = Target(first.urls, first.settings, first.facts, args.port + 10 * number)
            command, env = serve_command(target, args.workers)
            env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), str(tree)])
            env["DB_POOL_SIZE"] = str(args.pool_size)
            server = stack.enter_context(serving(command, env, f"{target.base}/health/live"))
            meters[revision] = CpuMeter(server.pid, postmaster)
            bases.append((revision, target.base))
        for endpoint in selected:
            env = wrk_env(first.facts, endpoint)
            for _, base in bases:
                wrk(base + endpoint.path, script, env, args, duration=2)  # warm
            for round_ in range(args.rounds):
                for revision, base in bases:
                    before = meters[revision].sample()
                    measured = wrk(base + endpoint.path, script, env, args, args.duration)
                    measured.cpu_us = CpuMeter.per_request(
                        before, meters[revision].sample(), measured.requests
                    )
                    results.setdefault((endpoint.name, revision), []).append(measured)
                    print(
                        f"{round_ + 1}/{args.rounds} {endpoint.name} {revision}:"
                        f" {measured.requests_per_second:,.0f} req/s, errors {measured.errors}",
                        flush=True,
                    )
    header = " | ".join(f"{r} req/s (p99 ms)" for r in args.revisions)
    ratios = " | ".join(f"× {args.revisions[0]}" for _ in args.revisions[1:])
    print(f"\n| endpoint | {header} | {ratios} |")
    print("|---" * (1 + 2 * len(args.revisions) - 1) + "|")
    for endpoint in selected:
        medians = []
        cells = []
        for revision in args.revisions:
            runs = results[(endpoint.name, revision)]
            rate = statistics.median(run.requests_per_second for run in runs)
            p99 = statistics.median(run.p99_ms for run in runs)
            medians.append(rate)
            cells.append(f"{rate:,.0f} ({p99:.1f})")
        cells += [f"{rate / medians[0]:.2f}" for rate in medians[1:]]
        print(f"| {endpoint.name} | " + " | ".join(cells) + " |")
    print("\nCPU µs per request (server, PostgreSQL, wrk; medians):")
    for endpoint in selected:
        for revision in args.revisions:
            runs = results[(endpoint.name, revision)]
            print(f"  {endpoint.name}, {revision}: {format_us(run.cpu_us for run in runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
