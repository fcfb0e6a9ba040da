"""SIGTERM: `energy-api serve` stops accepting, lets in-flight requests finish, closes the pool.

Each in-flight request is made deterministic: its headers and half of its body are sent, so
the app is inside the endpoint waiting for the rest when SIGTERM arrives.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from energy_api.auth.models import Role, User
from energy_api.cli import migrate
from energy_api.db import create_engine, create_sessionmaker
from energy_api.security import pwd_context
from tests.conftest import TEST_PASSWORD, TEST_SECRET, make_settings

BIN = Path(sys.executable).parent
IN_FLIGHT = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _add_user(url: str) -> None:
    engine = create_engine(url, make_settings(url))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            session.add(
                User(
                    username="operador",
                    password_hash=pwd_context.hash(TEST_PASSWORD),
                    role=Role.viewer.value,
                )
            )
    finally:
        await engine.dispose()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


def start_server(tmp_path: Path, grace: int) -> Server:
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    migrate(make_settings(url))
    asyncio.run(_add_user(url))
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": TEST_SECRET,
        "ENVIRONMENT": "test",
        "SHUTDOWN_GRACE_SECONDS": str(grace),
    }
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [str(BIN / "energy-api"), "serve", "--port", str(port), "--no-access-log"],
        cwd=tmp_path,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(process, port, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if get_health(server).startswith(b"HTTP/1.1 200"):
                return server
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def get_health(server: Server) -> bytes:
    with server.connect() as sock:
        sock.sendall(b"GET /health/ HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def start_login(server: Server) -> tuple[socket.socket, bytes]:
    """A login request with half of its body sent; returns the socket and the rest."""
    body = json.dumps({"username": "operador", "password": TEST_PASSWORD}).encode()
    head = (
        b"POST /api/token/ HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    sock = server.connect()
    half = len(body) // 2
    sock.sendall(head + body[:half])
    return sock, body[half:]


def refused(server: Server) -> bool:
    try:
        with server.connect():
            return False
    except OSError:
        return True


@pytest.fixture
def stop_server() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def test_sigterm_lets_in_flight_requests_finish_and_refuses_new_ones(
    tmp_path: Path, stop_server: list[Server]
) -> None:
    server = start_server(tmp_path, grace=10)
    stop_server.append(server)
    in_flight = [start_login(server) for _ in range(IN_FLIGHT)]
    # Connections are accepted in order: once a later one is served, these were accepted.
    assert get_health(server).startswith(b"HTTP/1.1 200")

    server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while not refused(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert refused(server), "new connections are still accepted after SIGTERM"

    answers = []
    for sock, rest in in_flight:
        with sock:
            sock.sendall(rest)
            answers.append(read_all(sock))
    assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [b"HTTP/1.1 200 OK"] * IN_FLIGHT
    assert all(b'"access":' in answer for answer in answers)

    # uvicorn re-raises the signal it handled once it is done, so the status may say SIGTERM.
    assert server.process.wait(timeout=10) in (0, -signal.SIGTERM)
    log = server.log.read_text()
    assert "Application shutdown complete" in log  # lifespan ran: the engine was disposed


def test_sigterm_ends_requests_still_running_after_the_grace(
    tmp_path: Path, stop_server: list[Server]
) -> None:
    server = start_server(tmp_path, grace=1)
    stop_server.append(server)
    stuck, _ = start_login(server)  # the rest of its body never comes
    assert get_health(server).startswith(b"HTTP/1.1 200")

    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=10)
    stuck.close()
    assert time.monotonic() - started < 1 + 3  # the grace, plus shutting down
    assert "timeout graceful shutdown exceeded" in server.log.read_text()
