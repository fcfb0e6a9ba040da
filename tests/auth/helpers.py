"""Small helpers shared by the auth tests."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient, Response

from tests.conftest import TEST_PASSWORD

BAD_CREDENTIALS_BODY = {
    "type": "about:blank",
    "title": "Unauthorized",
    "status": 401,
    "detail": "Invalid username or password",
}
BAD_TOKEN_BODY = {
    "type": "about:blank",
    "title": "Unauthorized",
    "status": 401,
    "detail": "Invalid or expired token",
}
PROBLEM_JSON = "application/problem+json"


async def login(client: AsyncClient, username: str, password: str = TEST_PASSWORD) -> Response:
    return await client.post("/api/token/", json={"username": username, "password": password})


async def login_pair(client: AsyncClient, username: str) -> dict[str, Any]:
    response = await login(client, username)
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


async def refresh(client: AsyncClient, token: str) -> Response:
    return await client.post("/api/token/refresh/", json={"refresh": token})


async def me(client: AsyncClient, token: str) -> Response:
    return await client.get("/api/v1/usuarios/me/", headers={"Authorization": f"Bearer {token}"})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unverified_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def utc(value: datetime) -> datetime:
    """A stored timestamp in UTC (SQLite returns naive UTC, PostgreSQL aware)."""
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
