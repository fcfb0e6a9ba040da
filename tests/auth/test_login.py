"""The foundation's login contract: POST /api/token/, refresh, the form flow, Bearer checks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from passlib.context import CryptContext
from passlib.hash import django_pbkdf2_sha256
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import Role, User
from energy_api.config import Settings
from energy_api.security import ALGORITHM, TokenType, decode_token
from tests.auth.helpers import (
    BAD_CREDENTIALS_BODY,
    BAD_TOKEN_BODY,
    PROBLEM_JSON,
    login,
    login_pair,
    me,
    refresh,
)
from tests.conftest import TEST_PASSWORD, access_token, add_user

MakeUser = Callable[..., Any]


async def test_login_returns_access_refresh_bearer_and_expiry(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    response = await login(client, user.username)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60


async def test_login_tokens_carry_the_user_and_their_type(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    access = decode_token(settings, pair["access"], expected_type=TokenType.access)
    refresh_claims = decode_token(settings, pair["refresh"], expected_type=TokenType.refresh)
    assert (access["sub"], refresh_claims["sub"]) == (str(user.id), str(user.id))
    assert access["exp"] - access["iat"] == 30 * 60
    assert refresh_claims["exp"] - refresh_claims["iat"] == 24 * 60 * 60


async def test_login_access_token_authorizes_api_calls(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.editor)
    pair = await login_pair(client, user.username)
    response = await me(client, pair["access"])
    assert response.status_code == 200, response.text
    assert response.json() == {"id": user.id, "username": user.username, "role": "editor"}


async def test_token_responses_are_not_cached(client: AsyncClient, users: MakeUser) -> None:
    user = await users(Role.viewer)
    response = await login(client, user.username)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("case", ["wrong-password", "unknown-user", "inactive-user"])
async def test_login_failures_answer_401_with_one_identical_body(
    client: AsyncClient, users: MakeUser, case: str
) -> None:
    active = await users(Role.admin)
    inactive = await users(Role.admin, active=False)
    username, password = {
        "wrong-password": (active.username, "not the password"),
        "unknown-user": ("nobody-by-this-name", TEST_PASSWORD),
        "inactive-user": (inactive.username, TEST_PASSWORD),
    }[case]
    response = await login(client, username, password)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == BAD_CREDENTIALS_BODY


@pytest.mark.parametrize("case", ["wrong-password", "unknown-user", "inactive-user"])
async def test_every_failed_login_runs_exactly_one_argon2_verification(
    client: AsyncClient,
    users: MakeUser,
    cheap_hashing: CryptContext,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    active = await users(Role.admin)
    inactive = await users(Role.admin, active=False)
    username, password = {
        "wrong-password": (active.username, "not the password"),
        "unknown-user": ("nobody-by-this-name", TEST_PASSWORD),
        "inactive-user": (inactive.username, TEST_PASSWORD),
    }[case]
    verified: list[str] = []

    def counting(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(secret: str, hash: str, **kwargs: Any) -> Any:
            verified.append(hash)
            return method(secret, hash, **kwargs)

        return wrapper

    # dummy_verify() (unknown users) goes through verify(); real users through
    # verify_and_update(). Both are counted; hashing the dummy once is not a verification.
    monkeypatch.setattr(cheap_hashing, "verify", counting(cheap_hashing.verify))
    monkeypatch.setattr(
        cheap_hashing, "verify_and_update", counting(cheap_hashing.verify_and_update)
    )
    response = await login(client, username, password)
    assert response.status_code == 401
    assert len(verified) == 1
    assert verified[0].startswith("$argon2id$")


async def test_password_verification_runs_off_the_event_loop(
    client: AsyncClient,
    users: MakeUser,
    cheap_hashing: CryptContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await users(Role.viewer)
    started = threading.Event()
    release = threading.Event()
    released_while_verifying: list[bool] = []
    original = cheap_hashing.verify_and_update

    def blocking_verify(secret: str, hash: str, **kwargs: Any) -> Any:
        started.set()
        # Only a coroutine can set `release`: on the event loop this wait would starve it.
        released_while_verifying.append(release.wait(timeout=5))
        return original(secret, hash, **kwargs)

    monkeypatch.setattr(cheap_hashing, "verify_and_update", blocking_verify)
    attempt = asyncio.create_task(login(client, user.username))
    assert await asyncio.to_thread(started.wait, 5)
    release.set()
    response = await attempt
    assert response.status_code == 200, response.text
    assert released_while_verifying == [True]


async def test_django_pbkdf2_hash_logs_in_and_is_rehashed_to_argon2(
    client: AsyncClient, db_session: AsyncSession
) -> None:
    django_hash = django_pbkdf2_sha256.hash(TEST_PASSWORD)
    assert django_hash.startswith("pbkdf2_sha256$")
    user = await add_user(
        db_session, django_hash, username="imported-from-django", role=Role.editor
    )
    response = await login(client, "imported-from-django")
    assert response.status_code == 200, response.text
    stored = await db_session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert CryptContext(schemes=["argon2"]).verify(TEST_PASSWORD, stored)


async def test_refresh_returns_a_new_access_and_a_new_refresh_token(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    response = await refresh(client, pair["refresh"])
    assert response.status_code == 200, response.text
    renewed = response.json()
    assert set(renewed) == {"access", "refresh", "token_type", "expires_in"}
    assert renewed["access"] != pair["access"]
    assert renewed["refresh"] != pair["refresh"]
    assert (await me(client, renewed["access"])).status_code == 200


async def test_access_token_offered_as_refresh_is_401(client: AsyncClient, users: MakeUser) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    response = await refresh(client, pair["access"])
    assert response.status_code == 401
    assert response.json() == BAD_TOKEN_BODY


async def test_refresh_token_offered_as_bearer_is_401(client: AsyncClient, users: MakeUser) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    response = await me(client, pair["refresh"])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == BAD_TOKEN_BODY


def _authorization(case: str, settings: Settings, user: User) -> dict[str, str]:
    if case == "missing":
        return {}
    if case == "not-a-jwt":
        return {"Authorization": "Bearer not-a-jwt"}
    if case == "other-scheme":
        return {"Authorization": f"Basic {access_token(settings, user)}"}
    if case == "expired":
        return {
            "Authorization": f"Bearer {access_token(settings, user, ttl=timedelta(minutes=-5))}"
        }
    assert case == "badly-signed"
    other = settings.model_copy(
        update={"secret_key": SecretStr("another-secret-of-thirty-two-bytes!!")}
    )
    return {"Authorization": f"Bearer {access_token(other, user)}"}


@pytest.mark.parametrize(
    "case", ["missing", "not-a-jwt", "other-scheme", "expired", "badly-signed"]
)
async def test_bad_bearer_is_401_with_www_authenticate(
    client: AsyncClient, users: MakeUser, settings: Settings, case: str
) -> None:
    user = await users(Role.admin)
    response = await client.get("/api/v1/clientes/", headers=_authorization(case, settings, user))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == 401
    assert "items" not in response.json()


async def test_form_endpoint_returns_an_oauth2_access_token(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    user = await users(Role.viewer)
    response = await client.post(
        "/api/token/form/", data={"username": user.username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert decode_token(settings, body["access_token"], expected_type=TokenType.access)["sub"] == (
        str(user.id)
    )


async def test_form_endpoint_wrong_password_is_401(client: AsyncClient, users: MakeUser) -> None:
    user = await users(Role.viewer)
    response = await client.post(
        "/api/token/form/", data={"username": user.username, "password": "wrong"}
    )
    assert response.status_code == 401
    assert response.json() == BAD_CREDENTIALS_BODY


async def test_openapi_declares_the_password_flow_at_the_form_endpoint(app: FastAPI) -> None:
    schemes = app.openapi()["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/token/form/"


def test_tokens_are_signed_with_hs256(settings: Settings) -> None:
    token = access_token(settings, User(id=1, username="x", password_hash="", role="viewer"))
    assert ALGORITHM == "HS256"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
