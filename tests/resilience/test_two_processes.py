"""Two separate server processes on one database, as N stateless containers would run: each
keeps its own user cache, kept right by NOTIFY, so a user deactivated through one process is
refused by the other within a second."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from energy_api.auth.models import Role, User
from energy_api.db import create_engine, create_sessionmaker
from energy_api.security import pwd_context
from tests.conftest import TEST_PASSWORD, TEST_SECRET, make_settings
from tests.throwaway import free_port

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.usefixtures("postgres_only")


async def add_users(url: str, *users: tuple[str, Role]) -> None:
    engine = create_engine(url, make_settings(url))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for username, role in users:
                session.add(
                    User(
                        username=username,
                        password_hash=pwd_context.hash(TEST_PASSWORD),
                        role=role.value,
                    )
                )
    finally:
        await engine.dispose()


def serve(url: str, cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": TEST_SECRET,
        "METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [str(BIN / "energy-api"), "serve", "--port", str(port), "--no-access-log"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{base} never became ready"
        time.sleep(0.1)


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    processes = [serve(database_url, tmp_path) for _ in range(2)]
    try:
        for _, base in processes:
            wait_ready(base)
        yield processes[0][1], processes[1][1]
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            process.wait(timeout=30)


def test_a_deactivation_through_one_process_is_refused_by_the_other_within_a_second(
    database_url: str, two_servers: tuple[str, str]
) -> None:
    first, second = two_servers
    admin, user = f"admin-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"
    asyncio.run(add_users(database_url, (admin, Role.admin), (user, Role.viewer)))

    def login(base: str, username: str) -> dict[str, str]:
        response = httpx.post(
            f"{base}/api/token/", json={"username": username, "password": TEST_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access']}"}

    admin_headers = login(first, admin)
    user_headers = login(second, user)
    with httpx.Client(base_url=second, timeout=5) as other:
        # The second process caches the user while its listener is connected.
        for _ in range(3):
            assert other.get("/api/v1/usuarios/me/", headers=user_headers).status_code == 200
        me = other.get("/api/v1/usuarios/me/", headers=user_headers).json()
        response = httpx.patch(
            f"{first}/api/v1/usuarios/{me['id']}/", json={"ativo": False}, headers=admin_headers
        )
        assert response.status_code == 200, response.text
        deactivated = time.monotonic()
        while other.get("/api/v1/usuarios/me/", headers=user_headers).status_code == 200:
            assert time.monotonic() - deactivated < 1.0, "the other process still lets them in"
            time.sleep(0.01)
        assert other.get("/api/v1/usuarios/me/", headers=user_headers).status_code == 401
