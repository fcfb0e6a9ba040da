"""Prometheus metrics, right across several workers, served on a port of their own.

With more than one worker, `energy-api serve` sets `PROMETHEUS_MULTIPROC_DIR` (a fresh
directory, unless ops set one) before the workers start, so each process writes its values to
memory-mapped files there and one scrape adds them up (prometheus-client's multiprocess mode).
The scrape endpoint is not part of the API: `serve` runs it in the supervising process on
METRICS_HOST:METRICS_PORT (`start_metrics_server`), so it is off the API's port, its load
balancer and its hot path.

The per-request metrics are updated by `energy_api.http.middleware.EdgeMiddleware`, which
resolves each (route, method, status) series once and keeps it (`RequestSeries`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "energy_api_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "energy_api_http_request_duration_seconds",
    "Time from a request's arrival to its last byte, by route template, method and status",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "energy_api_http_requests_in_flight",
    "Requests being answered now",
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "energy_api_db_pool_connections_in_use",
    "Pooled database connections checked out now",
    multiprocess_mode="livesum",
)
DB_POOL_CHECKOUTS = Counter(
    "energy_api_db_pool_checkouts", "Connections taken from the database pool"
)
DB_POOL_TIMEOUTS = Counter(
    "energy_api_db_pool_timeouts",
    "Requests that waited DB_POOL_TIMEOUT for a pooled connection in vain (answered 503)",
)
LOGIN_FAILURES = Counter(
    "energy_api_login_failures", "Logins refused for wrong credentials or an inactive user"
)
LOGIN_THROTTLED = Counter(
    "energy_api_login_throttled", "Logins refused with 429 by the login throttle"
)
SUMMARIES_SECONDS = Histogram(
    "energy_api_summaries_maintenance_seconds",
    "Time a write spent keeping the summaries exact (capturing and applying its change)",
    buckets=LATENCY_BUCKETS,
)


class RequestSeries:
    """The counter and histogram children of each (route, method, status), resolved once."""

    __slots__ = ("_series",)

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            code = str(status)
            series = (
                HTTP_REQUESTS.labels(route, method, code),
                HTTP_DURATION.labels(route, method, code),
            )
            self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)


def registry() -> CollectorRegistry:
    """What a scrape reads: every worker's files in multiprocess mode, else this process."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected, path=path)  # type: ignore[no-untyped-call]
    return collected


def render() -> bytes:
    """The Prometheus text format of `registry()`."""
    return generate_latest(registry())


def prepare_multiprocess_dir() -> Path:
    """Before the workers start: `PROMETHEUS_MULTIPROC_DIR` as set, emptied (files of an
    earlier run would be added to this one's), or a new temporary directory."""
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        path = Path(configured)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="energy-api-metrics-"))
        os.environ[MULTIPROC_ENV] = str(path)
    return path


def worker_exited(pid: int) -> None:
    """Drop a finished worker's live gauges (its counters and histograms are kept)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def start_metrics_server(host: str, port: int) -> threading.Thread:
    """Serve `GET /metrics` (any path answers the same) from a daemon thread."""
    _server, thread = start_http_server(port, addr=host, registry=registry())
    return thread
