"""Auth test fixtures: real argon2 hashing at a tiny cost, and a clock the service reads.

The production context is copied with only the argon2 cost lowered (same schemes, same
deprecations), so logins in these tests take milliseconds instead of a second each.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from passlib.context import CryptContext

from energy_api import security
from energy_api.auth import service
from tests.conftest import TEST_PASSWORD

CHEAP_CONTEXT: CryptContext = security.pwd_context.copy(
    argon2__memory_cost=1024, argon2__rounds=1, argon2__parallelism=1
)


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> CryptContext:
    monkeypatch.setattr(security, "pwd_context", CHEAP_CONTEXT)
    return CHEAP_CONTEXT


@pytest.fixture(scope="session")
def password_hash() -> str:
    """TEST_PASSWORD hashed with the cheap context (overrides the root fixture here)."""
    hashed: str = CHEAP_CONTEXT.hash(TEST_PASSWORD)
    return hashed


class Clock:
    """What `service._now()` returns; tests move it forward."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock()
    monkeypatch.setattr(service, "_now", fixed)
    return fixed


ClientFrom = Callable[[str], AsyncClient]


@pytest.fixture
def client_from(app: FastAPI) -> ClientFrom:
    """`async with client_from("203.0.113.7") as c:` → a client whose peer address is that
    (the default `client` connects from 127.0.0.1)."""

    def make(address: str) -> AsyncClient:
        transport = ASGITransport(app=app, client=(address, 40000))
        return AsyncClient(transport=transport, base_url="http://test")

    return make
