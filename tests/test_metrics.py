"""Prometheus metrics: per-route counts and latencies, in-flight requests, the pool, logins and
the summaries' maintenance; and, with several workers, one scrape on its own port adds every
worker up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from httpx import AsyncClient
from prometheus_client.parser import text_string_to_metric_families

from energy_api.auth.models import Role
from energy_api.observability.metrics import render
from tests.conftest import TEST_SECRET
from tests.factories import create_client


def sample(name: str, **labels: str) -> float:
    """The current value of one series in this process's metrics (0 when absent)."""
    return sample_in(render().decode(), name, **labels)


def sample_in(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for metric in family.samples:
            if metric.name == name and all(metric.labels.get(k) == v for k, v in labels.items()):
                return float(metric.value)
    return 0.0


async def test_requests_are_counted_by_route_template_method_and_status(
    client: AsyncClient, viewer_headers: dict[str, str], db_session: Any
) -> None:
    record = await create_client(db_session)
    labels = {"route": "/api/v1/clientes/{id}/", "method": "GET", "status": "200"}
    before = sample("energy_api_http_requests_total", **labels)
    latency_before = sample("energy_api_http_request_duration_seconds_count", **labels)
    for _ in range(3):
        response = await client.get(f"/api/v1/clientes/{record.id}/", headers=viewer_headers)
        assert response.status_code == 200
    assert sample("energy_api_http_requests_total", **labels) == before + 3
    assert sample("energy_api_http_request_duration_seconds_count", **labels) == latency_before + 3
    missing = {"route": "/api/v1/clientes/{id}/", "method": "GET", "status": "404"}
    before_404 = sample("energy_api_http_requests_total", **missing)
    await client.get("/api/v1/clientes/999999999/", headers=viewer_headers)
    assert sample("energy_api_http_requests_total", **missing) == before_404 + 1


async def test_unmatched_paths_share_one_series(client_without_database: AsyncClient) -> None:
    labels = {"route": "<unmatched>", "method": "GET", "status": "404"}
    before = sample("energy_api_http_requests_total", **labels)
    await client_without_database.get("/a/b/c")
    await client_without_database.get("/x/y/z/123")
    assert sample("energy_api_http_requests_total", **labels) == before + 2
    assert "/x/y/z/123" not in render().decode()


async def test_failed_and_throttled_logins_are_counted(client: AsyncClient, users: Any) -> None:
    user = await users(Role.viewer)
    failures = sample("energy_api_login_failures_total")
    throttled = sample("energy_api_login_throttled_total")
    for _ in range(6):
        await client.post("/api/token/", json={"username": user.username, "password": "nope"})
    assert sample("energy_api_login_failures_total") == failures + 5
    assert sample("energy_api_login_throttled_total") == throttled + 1


async def test_time_maintaining_summaries_is_measured(
    client: AsyncClient, editor_headers: dict[str, str], db_session: Any
) -> None:
    record = await create_client(db_session)
    before = sample("energy_api_summaries_maintenance_seconds_count")
    response = await client.post(
        "/api/v1/consumos/",
        json={"cliente": record.id, "mes": "2026-03", "consumo_kwh": 120},
        headers=editor_headers,
    )
    assert response.status_code == 201
    assert sample("energy_api_summaries_maintenance_seconds_count") == before + 1


async def test_in_flight_is_back_to_what_it_was(client_without_database: AsyncClient) -> None:
    before = sample("energy_api_http_requests_in_flight")
    await client_without_database.get("/health/live")
    assert sample("energy_api_http_requests_in_flight") == before


def test_metrics_are_not_served_by_the_api(client_without_database: AsyncClient) -> None:
    from energy_api.main import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings("sqlite+aiosqlite://"))
    assert all(getattr(route, "path", "") != "/metrics" for route in app.routes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (a local test URL)
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.usefixtures("postgres_only")
def test_two_workers_are_scraped_as_one_on_the_metrics_port(
    database_url: str, tmp_path: Any
) -> None:
    api_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "METRICS_PORT": str(metrics_port),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "energy_api.cli",
            "serve",
            "--port",
            str(api_port),
            "--workers",
            "2",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{api_port}/health/live", time.monotonic() + 30)
        # New connections each time, so both workers take some of them.
        for _ in range(40):
            assert get(f"http://127.0.0.1:{api_port}/health/live")[0] == 200
        assert get(f"http://127.0.0.1:{api_port}/metrics")[0] == 404
        live_url = f"http://127.0.0.1:{api_port}/health/live"
        with urllib.request.urlopen(live_url, timeout=5) as answer:
            assert answer.headers.get("server") is None  # uvicorn's Server header is off
        status, text = get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        live = {"route": "/health/live", "method": "GET", "status": "200"}
        assert sample_in(text, "energy_api_http_requests_total", **live) >= 40
        # The metrics port is served by the supervising process, which answers no request:
        # these counts were read from the workers' files.
        assert sample_in(text, "energy_api_http_requests_in_flight") == 0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


async def test_unknown_methods_share_one_series(client_without_database: AsyncClient) -> None:
    labels = {"route": "<unmatched>", "method": "OTHER", "status": "404"}
    before = sample("energy_api_http_requests_total", **labels)
    await client_without_database.request("BREW", "/coffee")
    await client_without_database.request("XYZZY", "/coffee")
    assert sample("energy_api_http_requests_total", **labels) == before + 2
    assert "BREW" not in render().decode()
