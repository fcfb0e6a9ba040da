"""Users: /usuarios/me/ and user creation by admins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth import service
from energy_api.auth.models import Role, User
from energy_api.config import Settings
from energy_api.errors import InvalidInput
from tests.auth.helpers import PROBLEM_JSON, login
from tests.conftest import access_token

MakeUser = Callable[..., Any]
AuthHeaders = Callable[..., Any]
NEW_USER = {"username": "maria.operadora", "password": "s3nha-bem-longa", "role": "editor"}


@pytest.mark.parametrize("role", list(Role))
async def test_me_returns_id_username_and_role(
    client: AsyncClient, users: MakeUser, settings: Settings, role: Role
) -> None:
    user = await users(role)
    response = await client.get(
        "/api/v1/usuarios/me/", headers={"Authorization": f"Bearer {access_token(settings, user)}"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"id": user.id, "username": user.username, "role": role.value}


async def test_admin_creates_a_user_with_a_role(
    client: AsyncClient, db_session: AsyncSession, admin_headers: dict[str, str]
) -> None:
    response = await client.post("/api/v1/usuarios/", json=NEW_USER, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"id": body["id"], "username": "maria.operadora", "role": "editor"}
    stored = await db_session.get(User, body["id"])
    assert stored is not None
    assert (stored.username, stored.role, stored.is_active) == ("maria.operadora", "editor", True)


async def test_created_user_password_is_stored_as_argon2(
    client: AsyncClient, db_session: AsyncSession, admin_headers: dict[str, str]
) -> None:
    await client.post("/api/v1/usuarios/", json=NEW_USER, headers=admin_headers)
    stored = await db_session.scalar(
        select(User.password_hash).where(User.username == "maria.operadora")
    )
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert NEW_USER["password"] not in stored


async def test_created_user_logs_in_with_its_password(
    client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    await client.post("/api/v1/usuarios/", json=NEW_USER, headers=admin_headers)
    response = await login(client, "maria.operadora", "s3nha-bem-longa")
    assert response.status_code == 200, response.text


async def test_created_user_defaults_to_viewer(
    client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = {"username": "so.leitura", "password": "s3nha-bem-longa"}
    response = await client.post("/api/v1/usuarios/", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "viewer"


async def test_duplicate_username_is_409_and_creates_nothing(
    client: AsyncClient, db_session: AsyncSession, admin_headers: dict[str, str]
) -> None:
    first = await client.post("/api/v1/usuarios/", json=NEW_USER, headers=admin_headers)
    assert first.status_code == 201
    again = {**NEW_USER, "password": "outra-senha-l0nga", "role": "admin"}
    response = await client.post("/api/v1/usuarios/", json=again, headers=admin_headers)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == "Username 'maria.operadora' already exists"
    count = await db_session.scalar(
        select(func.count()).select_from(User).where(User.username == "maria.operadora")
    )
    assert count == 1


@pytest.mark.parametrize("role", [Role.editor, Role.viewer])
async def test_non_admin_cannot_create_users(
    client: AsyncClient, db_session: AsyncSession, auth_headers: AuthHeaders, role: Role
) -> None:
    response = await client.post(
        "/api/v1/usuarios/", json=NEW_USER, headers=await auth_headers(role)
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "Requires the admin role"
    created = await db_session.scalar(select(User.id).where(User.username == "maria.operadora"))
    assert created is None


async def test_creating_a_user_without_a_token_is_401(client: AsyncClient) -> None:
    response = await client.post("/api/v1/usuarios/", json=NEW_USER)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_user_password_shorter_than_8_is_422(
    client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = {"username": "curta", "password": "1234567"}
    response = await client.post("/api/v1/usuarios/", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["password"]


@pytest.mark.parametrize("username", ["com espaço", "tab\there", "ünïcode", "a" * 151])
async def test_create_user_refuses_usernames_outside_the_allowed_characters(
    client: AsyncClient, admin_headers: dict[str, str], username: str
) -> None:
    response = await client.post(
        "/api/v1/usuarios/",
        json={"username": username, "password": "long-enough-pw", "role": "viewer"},
        headers=admin_headers,
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["username"]


async def test_create_user_service_refuses_a_bad_username_from_any_caller(
    db_session: AsyncSession,
) -> None:
    """The CLI reaches the service without the HTTP schema: the service checks too."""
    with pytest.raises(InvalidInput) as caught:
        await service.create_user(db_session, "com espaço", "long-enough-pw", Role.viewer)
    assert caught.value.errors is not None
    assert caught.value.errors[0].field == "username"
