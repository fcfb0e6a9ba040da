"""Login throttling kept in the database: 5 failures per username or 20 per address in 15 min."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from energy_api.auth.models import Role
from tests.auth.conftest import ClientFrom, Clock
from tests.auth.helpers import BAD_CREDENTIALS_BODY, PROBLEM_JSON, login
from tests.conftest import TEST_PASSWORD

MakeUser = Callable[..., Any]


async def fail(client: AsyncClient, username: str, times: int) -> None:
    for _ in range(times):
        response = await login(client, username, "wrong password")
        assert response.status_code == 401, response.text


async def form_login(client: AsyncClient, username: str, password: str) -> Response:
    return await client.post("/api/token/form/", data={"username": username, "password": password})


async def test_sixth_attempt_after_five_failures_is_429_with_retry_after(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await fail(client, user.username, 5)
    clock.advance(minutes=5)
    response = await login(client, user.username, "wrong password")
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(10 * 60)


async def test_throttled_answer_is_a_problem_that_reveals_nothing_else(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await fail(client, user.username, 5)
    response = await login(client, user.username)
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "Too many failed login attempts; retry in 900 seconds",
    }


async def test_four_failures_still_let_the_right_password_in(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await fail(client, user.username, 4)
    assert (await login(client, user.username)).status_code == 200


async def test_throttling_also_refuses_the_right_password(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await fail(client, user.username, 5)
    assert (await login(client, user.username, TEST_PASSWORD)).status_code == 429


async def test_unknown_usernames_are_throttled_like_real_ones(
    client: AsyncClient, clock: Clock
) -> None:
    await fail(client, "nao-existe", 5)
    response = await login(client, "nao-existe", "wrong password")
    assert response.status_code == 429


async def test_other_usernames_are_not_throttled_by_one_users_failures(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    victim, bystander = await users(Role.viewer), await users(Role.viewer)
    await fail(client, victim.username, 5)
    assert (await login(client, bystander.username)).status_code == 200


async def test_success_resets_the_username_counter(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await fail(client, user.username, 4)
    assert (await login(client, user.username)).status_code == 200
    await fail(client, user.username, 4)
    response = await login(client, user.username, "wrong password")
    assert response.status_code == 401
    assert response.json() == BAD_CREDENTIALS_BODY


async def test_failures_older_than_15_minutes_no_longer_count(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await fail(client, user.username, 5)
    clock.advance(minutes=15)
    assert (await login(client, user.username)).status_code == 200


async def test_one_second_before_the_window_ends_is_still_429(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await fail(client, user.username, 5)
    clock.advance(minutes=14, seconds=59)
    response = await login(client, user.username)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"


async def test_retry_after_counts_from_the_oldest_failure(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await fail(client, user.username, 1)
    clock.advance(minutes=4)
    await fail(client, user.username, 4)
    clock.advance(minutes=1)
    response = await login(client, user.username)
    assert response.headers["retry-after"] == str(10 * 60)


async def test_refused_attempts_are_not_counted(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    await fail(client, user.username, 5)
    clock.advance(minutes=10)
    for _ in range(5):
        assert (await login(client, user.username, "wrong password")).status_code == 429
    clock.advance(minutes=5)
    assert (await login(client, user.username)).status_code == 200


async def test_form_endpoint_is_throttled_too(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    for _ in range(5):
        assert (await form_login(client, user.username, "wrong")).status_code == 401
    response = await form_login(client, user.username, TEST_PASSWORD)
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(15 * 60)


async def test_twenty_failures_from_one_address_throttle_every_username_from_it(
    client_from: ClientFrom, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    async with client_from("203.0.113.7") as attacker:
        for index in range(20):
            await fail(attacker, f"guess-{index}", 1)
        response = await login(attacker, user.username)
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(15 * 60)


async def test_nineteen_failures_from_one_address_are_not_throttled(
    client_from: ClientFrom, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    async with client_from("203.0.113.7") as attacker:
        for index in range(19):
            await fail(attacker, f"guess-{index}", 1)
        assert (await login(attacker, user.username)).status_code == 200


async def test_address_throttling_spares_other_addresses(
    client_from: ClientFrom, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    async with client_from("203.0.113.7") as attacker:
        for index in range(20):
            await fail(attacker, f"guess-{index}", 1)
    async with client_from("198.51.100.20") as colleague:
        assert (await login(colleague, user.username)).status_code == 200


async def test_username_throttling_applies_from_every_address(
    client_from: ClientFrom, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    for index in range(5):
        async with client_from(f"203.0.113.{index + 1}") as bot:
            await fail(bot, user.username, 1)
    async with client_from("198.51.100.20") as owner:
        assert (await login(owner, user.username)).status_code == 429


@pytest.mark.parametrize("name", ["auth-token", "auth-token-form"])
def test_openapi_declares_429_with_retry_after(app: FastAPI, name: str) -> None:
    operations = [
        operation
        for path in app.openapi()["paths"].values()
        for operation in path.values()
        if operation.get("operationId") == name
    ]
    assert len(operations) == 1
    declared = operations[0]["responses"]["429"]
    assert "application/problem+json" in declared["content"]
    assert declared["headers"]["Retry-After"]["schema"]["type"] == "integer"
