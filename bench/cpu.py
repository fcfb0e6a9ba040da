"""CPU time per request, by the process that spent it: the server's workers, the PostgreSQL
backends, and the load generator.

Throughput on a shared two-core machine moves with whatever else runs; the CPU time that one
request costs each component moves much less, and says where the time goes. Read from /proc
(Linux): a server's CPU is that of every process in its process group (its workers included),
PostgreSQL's that of the children of the postmaster named by `--pg-pid-file`, wrk's that of
this process's finished children.
"""

from __future__ import annotations

import os
import resource
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
DEFAULT_PG_PID_FILE = Path("/var/run/postgresql/15-main.pid")
COMPONENTS = ("server", "postgres", "wrk")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    # After "pid (comm) ": state is field 3; comm may hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def _cpu_seconds(select: int, value: int) -> float:
    """CPU seconds (user + system) of the live processes whose stat field `select` (3-based
    numbering as in proc(5): 4 ppid, 5 pgrp) equals `value`, their own included."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = _stat_fields(pid)
        if fields is None:
            continue
        if int(fields[select - 3]) == value or int(pid) == value:
            total += int(fields[14 - 3]) + int(fields[15 - 3])
    return total / TICKS


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def postmaster_pid(pid_file: Path = DEFAULT_PG_PID_FILE) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Sample:
    server: float
    postgres: float
    wrk: float


class CpuMeter:
    """Samples the three components' CPU seconds; `per_request` turns two samples into µs."""

    def __init__(self, server_pgid: int, postmaster: int | None) -> None:
        self.server_pgid = server_pgid
        self.postmaster = postmaster

    def sample(self) -> Sample:
        postgres = _cpu_seconds(4, self.postmaster) if self.postmaster else float("nan")
        return Sample(_cpu_seconds(5, self.server_pgid), postgres, _children_seconds())

    @staticmethod
    def per_request(before: Sample, after: Sample, requests: int) -> dict[str, float]:
        if requests <= 0:
            return {}
        return {
            name: (getattr(after, name) - getattr(before, name)) / requests * 1e6
            for name in COMPONENTS
        }


def format_us(values: Iterable[dict[str, float]]) -> str:
    """Median µs per request of each component over runs, and their sum."""
    runs = [v for v in values if v]
    if not runs:
        return "n/a"
    medians = {name: statistics.median(run[name] for run in runs) for name in COMPONENTS}
    parts = ", ".join(f"{name} {medians[name]:,.0f}" for name in COMPONENTS)
    return f"{parts}; total {sum(medians.values()):,.0f} µs/request"
