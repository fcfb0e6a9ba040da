"""Browser tests: a real server (`energy-api serve`) on a free port over its own SQLite file,
driven by Playwright in the system's headless Chromium (Debian's package).

Where Chromium or Playwright is missing the tests are skipped with one line saying so.
Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, TEST_SECRET

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORDS = {"admin": "admin-senha-1", "editora": "editora-senha-1", "leitor": "leitor-senha-1"}
ENERGY_API = str(Path(sys.executable).with_name("energy-api"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, username: str) -> str:
        if username not in self.tokens:
            response = httpx.post(
                f"{self.base_url}/api/token/",
                json={"username": username, "password": PASSWORDS[username]},
            )
            response.raise_for_status()
            self.tokens[username] = response.json()["access"]
        return self.tokens[username]

    def api(self, method: str, path: str, username: str = "admin", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(username)}"}
        response = httpx.request(method, f"{self.base_url}{path}", headers=headers, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    subprocess.run(
        [ENERGY_API, *args], env=env, input=stdin, text=True, check=True, capture_output=True
    )


@pytest.fixture(scope="session")
def chromium() -> str:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        pytest.skip(f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - it is in the dev lock
        pytest.skip("browser tests skipped: playwright is not installed")
    return CHROMIUM


@pytest.fixture(scope="session")
def server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("browser-server")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'energy.db'}",
        "SECRET_KEY": TEST_SECRET,
        "ENVIRONMENT": "test",
        "ADMIN_PASSWORD": PASSWORDS["admin"],
    }
    env.pop("DB_NAME", None)
    _cli(env, "migrate")
    _cli(env, "ensure-admin")
    _cli(env, "create-user", "editora", "--role", "editor", stdin=PASSWORDS["editora"] + "\n")
    _cli(env, "create-user", "leitor", "--role", "viewer", stdin=PASSWORDS["leitor"] + "\n")
    _cli(env, "seed-demo")
    process = subprocess.Popen(
        [ENERGY_API, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{base_url}/health/").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"server did not start: {output}")
        time.sleep(0.1)
    try:
        yield Server(base_url, env)
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """Per module: Playwright's sync API runs an event loop while it is open, and the tests
    after these ones start loops of their own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@dataclass
class Watched:
    """A page, with every request it made and every console error it printed."""

    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="pt-BR")
    watched = Watched(context.new_page())
    watched.page.on("request", lambda request: watched.requests.append(request.url))
    watched.page.on(
        "console",
        lambda message: watched.errors.append(message.text) if message.type == "error" else None,
    )
    watched.page.on("pageerror", lambda error: watched.errors.append(str(error)))
    yield watched
    context.close()
