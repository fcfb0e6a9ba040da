"""POST /api/token/revoke/: logout revokes the presented token's whole family (RFC 7009)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from pydantic import SecretStr

from energy_api.auth.models import Role
from energy_api.config import Settings
from energy_api.security import TokenType, encode_token
from tests.auth.helpers import login_pair, refresh, unverified_claims

MakeUser = Callable[..., Any]


async def revoke(client: AsyncClient, token: str) -> Response:
    return await client.post("/api/token/revoke/", json={"refresh": token})


async def test_revoke_answers_204_with_no_body(client: AsyncClient, users: MakeUser) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    response = await revoke(client, pair["refresh"])
    assert response.status_code == 204
    assert response.content == b""


async def test_revoked_refresh_token_no_longer_refreshes(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    await revoke(client, pair["refresh"])
    assert (await refresh(client, pair["refresh"])).status_code == 401


async def test_revoking_a_retired_token_ends_the_live_one_of_its_family(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    first = await login_pair(client, user.username)
    live = (await refresh(client, first["refresh"])).json()
    assert (await revoke(client, first["refresh"])).status_code == 204
    assert (await refresh(client, live["refresh"])).status_code == 401


async def test_revoke_leaves_the_users_other_logins_alone(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    laptop = await login_pair(client, user.username)
    phone = await login_pair(client, user.username)
    await revoke(client, laptop["refresh"])
    assert (await refresh(client, phone["refresh"])).status_code == 200


async def test_revoke_accepts_an_expired_token_of_the_family(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    expired_twin = encode_token(
        settings,
        subject=str(user.id),
        token_type=TokenType.refresh,
        ttl=timedelta(hours=-1),
        jti=unverified_claims(pair["refresh"])["jti"],
    )
    assert (await revoke(client, expired_twin)).status_code == 204
    assert (await refresh(client, pair["refresh"])).status_code == 401


def _not_genuine(case: str, settings: Settings, pair: dict[str, Any], user_id: int) -> str:
    jti = unverified_claims(pair["refresh"])["jti"]
    if case == "garbage":
        return "not-a-token"
    if case == "access-token":
        return str(pair["access"])
    if case == "access-token-with-the-refresh-jti":
        return encode_token(
            settings,
            subject=str(user_id),
            token_type=TokenType.access,
            ttl=timedelta(minutes=5),
            jti=jti,
        )
    assert case == "badly-signed"
    other = settings.model_copy(
        update={"secret_key": SecretStr("another-secret-of-thirty-two-bytes!!")}
    )
    return encode_token(
        other, subject=str(user_id), token_type=TokenType.refresh, ttl=timedelta(hours=1), jti=jti
    )


@pytest.mark.parametrize(
    "case", ["garbage", "access-token", "access-token-with-the-refresh-jti", "badly-signed"]
)
async def test_revoke_with_a_token_that_is_not_a_genuine_refresh_token_is_204_and_revokes_nothing(
    client: AsyncClient, users: MakeUser, settings: Settings, case: str
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    response = await revoke(client, _not_genuine(case, settings, pair, user.id))
    assert response.status_code == 204
    assert (await refresh(client, pair["refresh"])).status_code == 200


async def test_revoke_without_a_token_is_422(client: AsyncClient) -> None:
    response = await client.post("/api/token/revoke/", json={})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["refresh"]


def test_openapi_declares_revoke_as_204_with_a_422_problem(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/api/token/revoke/"]["post"]
    assert operation["operationId"] == "auth-revoke"
    assert {"204", "422"} <= set(operation["responses"])
    assert not {"401", "403"} & set(operation["responses"])
    assert "application/problem+json" in operation["responses"]["422"]["content"]
