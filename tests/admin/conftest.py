"""Admin test fixtures: the app's admin, its sessions joined to the test's transaction, and a
browser-like client that logs in through the admin's own form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from energy_api.auth.models import Role, User
from tests.auth.conftest import cheap_hashing, password_hash
from tests.conftest import TEST_PASSWORD, AppFactory

__all__ = ["cheap_hashing", "password_hash"]  # cheap argon2 here too (see tests.auth.conftest)

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def admin_app(app_factory: AppFactory, connection: AsyncConnection) -> FastAPI:
    """The app, whose admin reads and writes inside the test's outer transaction (each admin
    transaction is a savepoint), so everything rolls back after the test."""
    app = app_factory()
    joined = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    app.state.sessionmaker = joined
    app.state.read_sessionmaker = joined
    return app


class Browser:
    """An HTTP client that keeps the admin's cookie and sends the page's CSRF token."""

    def __init__(self, http: AsyncClient) -> None:
        self.http = http
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> Response:
        response = await self.http.get(path, **kwargs)
        if match := CSRF_META.search(response.text):
            self.csrf = match.group(1)
        return response

    async def post(self, path: str, data: dict[str, Any], *, csrf: bool = True) -> Response:
        body = {**data, "csrf_token": self.csrf} if csrf else data
        return await self.http.post(path, data=body)

    async def delete(self, path: str, *, csrf: bool = True) -> Response:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return await self.http.delete(path, headers=headers)

    async def login(self, username: str, password: str = TEST_PASSWORD) -> Response:
        await self.get("/admin/login")
        response = await self.post("/admin/login", {"username": username, "password": password})
        await self.get("/admin/")
        return response


BrowserFactory = Callable[[], Any]


@pytest.fixture
async def browser(admin_app: FastAPI) -> AsyncIterator[Callable[[], Browser]]:
    clients: list[AsyncClient] = []

    def make() -> Browser:
        http = AsyncClient(transport=ASGITransport(app=admin_app), base_url="http://test")
        clients.append(http)
        return Browser(http)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
async def logged_in(
    browser: Callable[[], Browser], users: Callable[..., Any]
) -> Callable[[Role], Any]:
    """`await logged_in(Role.editor)` → (a Browser logged in as a new user of that role, user)."""

    async def make(role: Role) -> tuple[Browser, User]:
        user = await users(role)
        session = browser()
        response = await session.login(user.username)
        assert response.status_code == 302, response.text
        return session, user

    return make


@pytest.fixture
def admin_db(db_session: AsyncSession) -> AsyncSession:
    return db_session
