"""Accounts managed over the API: admins list, change and delete users; everyone changes their
own password. The password policy and the last-admin rule hold on every path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import RefreshToken, Role, User
from energy_api.config import Settings
from tests.auth.conftest import Clock
from tests.auth.helpers import BAD_TOKEN_BODY, PROBLEM_JSON, login, login_pair, me, refresh
from tests.conftest import TEST_PASSWORD, access_token

MakeUser = Callable[..., Any]
NEW_PASSWORD = "nova-senha-2026"
USERS = "/api/v1/usuarios/"
CHANGE = "/api/v1/usuarios/me/senha/"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def headers_for(settings: Settings, user: User) -> dict[str, str]:
    return bearer(access_token(settings, user))


# ---------------------------------------------------------------------------------------------
# Listing and reading


async def test_admin_lists_users_in_id_order_with_total(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    viewer = await users(Role.viewer)
    response = await client.get(USERS, headers=await headers_for(settings, admin))
    assert response.status_code == 200, response.text
    body = response.json()
    ids = [item["id"] for item in body["items"]]
    assert ids == sorted(ids)
    assert {admin.id, viewer.id} <= set(ids)
    assert body["total"] >= 2
    listed = next(item for item in body["items"] if item["id"] == viewer.id)
    assert listed == {
        "id": viewer.id,
        "username": viewer.username,
        "role": "viewer",
        "ativo": True,
        "criado_em": listed["criado_em"],
    }


async def test_busca_matches_a_username_substring_ignoring_case(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    await users(Role.viewer, username="Joana.Operadora")
    await users(Role.viewer, username="pedro")
    response = await client.get(
        USERS, params={"busca": "joana.op"}, headers=await headers_for(settings, admin)
    )
    assert [item["username"] for item in response.json()["items"]] == ["Joana.Operadora"]
    assert response.json()["total"] == 1


async def test_busca_treats_like_wildcards_as_text(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    await users(Role.viewer, username="ana_b")
    await users(Role.viewer, username="anaxb")
    response = await client.get(
        USERS, params={"busca": "a_b"}, headers=await headers_for(settings, admin)
    )
    assert [item["username"] for item in response.json()["items"]] == ["ana_b"]


async def test_list_filters_by_role_and_state(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    gone = await users(Role.editor, active=False)
    headers = await headers_for(settings, admin)
    inactive = await client.get(USERS, params={"ativo": "false"}, headers=headers)
    assert [item["id"] for item in inactive.json()["items"]] == [gone.id]
    admins = await client.get(USERS, params={"role": "admin"}, headers=headers)
    assert {item["role"] for item in admins.json()["items"]} == {"admin"}


async def test_list_pages_with_limit_and_offset(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    for _ in range(3):
        await users(Role.viewer)
    headers = await headers_for(settings, admin)
    first = (await client.get(USERS, params={"limit": 2}, headers=headers)).json()
    second = (await client.get(USERS, params={"limit": 2, "offset": 2}, headers=headers)).json()
    assert len(first["items"]) == 2
    assert first["total"] == second["total"] >= 4
    assert first["items"][-1]["id"] < second["items"][0]["id"]


@pytest.mark.parametrize("role", [Role.viewer, Role.editor])
async def test_only_admins_manage_users(
    client: AsyncClient, users: MakeUser, settings: Settings, role: Role
) -> None:
    caller = await users(role)
    other = await users(Role.viewer)
    headers = await headers_for(settings, caller)
    path = f"{USERS}{other.id}/"
    for response in (
        await client.get(USERS, headers=headers),
        await client.get(path, headers=headers),
        await client.patch(path, json={"role": "admin"}, headers=headers),
        await client.delete(path, headers=headers),
    ):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == PROBLEM_JSON


async def test_get_unknown_user_is_404(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    response = await client.get(f"{USERS}987654/", headers=await headers_for(settings, admin))
    assert response.status_code == 404
    assert response.json()["detail"] == "User 987654 not found"


# ---------------------------------------------------------------------------------------------
# Changing a user


async def test_admin_changes_a_role_and_it_applies_to_the_next_request(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    viewer = await users(Role.viewer)
    response = await client.patch(
        f"{USERS}{viewer.id}/", json={"role": "editor"}, headers=await headers_for(settings, admin)
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "editor"
    mine = await client.get("/api/v1/usuarios/me/", headers=await headers_for(settings, viewer))
    assert mine.json()["role"] == "editor"


async def test_deactivation_ends_the_users_tokens(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    target = await users(Role.editor)
    pair = await login_pair(client, target.username)
    response = await client.patch(
        f"{USERS}{target.id}/", json={"ativo": False}, headers=await headers_for(settings, admin)
    )
    assert response.json()["ativo"] is False
    assert (await me(client, pair["access"])).json() == BAD_TOKEN_BODY
    assert (await refresh(client, pair["refresh"])).status_code == 401
    assert (await login(client, target.username)).status_code == 401


async def test_password_reset_ends_every_login_and_sets_the_new_password(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    target = await users(Role.viewer)
    pair = await login_pair(client, target.username)
    response = await client.patch(
        f"{USERS}{target.id}/",
        json={"password": NEW_PASSWORD},
        headers=await headers_for(settings, admin),
    )
    assert response.status_code == 200, response.text
    assert (await me(client, pair["access"])).json() == BAD_TOKEN_BODY
    assert (await refresh(client, pair["refresh"])).status_code == 401
    assert (await login(client, target.username)).status_code == 401
    assert (await login(client, target.username, NEW_PASSWORD)).status_code == 200


async def test_patch_null_is_422_and_unknown_fields_too(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    target = await users(Role.viewer)
    headers = await headers_for(settings, admin)
    for body in ({"role": None}, {"username": "renamed"}, {"role": "root"}):
        response = await client.patch(f"{USERS}{target.id}/", json=body, headers=headers)
        assert response.status_code == 422, body


async def test_patch_unknown_user_is_404(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    response = await client.patch(
        f"{USERS}987654/", json={"role": "viewer"}, headers=await headers_for(settings, admin)
    )
    assert response.status_code == 404


async def test_admin_deletes_a_user_and_its_refresh_tokens(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    target = await users(Role.viewer)
    await login_pair(client, target.username)
    headers = await headers_for(settings, admin)
    response = await client.delete(f"{USERS}{target.id}/", headers=headers)
    assert response.status_code == 204
    assert (await client.get(f"{USERS}{target.id}/", headers=headers)).status_code == 404
    tokens = await db_session.scalar(
        select(func.count()).select_from(RefreshToken).where(RefreshToken.user_id == target.id)
    )
    assert tokens == 0


# ---------------------------------------------------------------------------------------------
# The last active admin


async def test_the_only_admin_cannot_demote_themselves(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    response = await client.patch(
        f"{USERS}{admin.id}/", json={"role": "editor"}, headers=await headers_for(settings, admin)
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "At least one active admin must remain"


async def test_the_only_admin_cannot_be_deactivated_or_deleted(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    headers = await headers_for(settings, admin)
    path = f"{USERS}{admin.id}/"
    assert (await client.patch(path, json={"ativo": False}, headers=headers)).status_code == 409
    assert (await client.delete(path, headers=headers)).status_code == 409
    assert (await client.get(path, headers=headers)).json()["ativo"] is True


async def test_an_inactive_admin_does_not_count_as_remaining(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    await users(Role.admin, active=False)
    response = await client.patch(
        f"{USERS}{admin.id}/", json={"role": "viewer"}, headers=await headers_for(settings, admin)
    )
    assert response.status_code == 409


async def test_an_admin_may_step_down_while_another_remains(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    await users(Role.admin)
    response = await client.patch(
        f"{USERS}{admin.id}/", json={"role": "viewer"}, headers=await headers_for(settings, admin)
    )
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"


async def test_non_admins_can_be_changed_when_one_admin_remains(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    editor = await users(Role.editor)
    headers = await headers_for(settings, admin)
    path = f"{USERS}{editor.id}/"
    assert (await client.patch(path, json={"ativo": False}, headers=headers)).status_code == 200
    assert (await client.delete(path, headers=headers)).status_code == 204


# ---------------------------------------------------------------------------------------------
# The password policy


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("abc12", "at least 8 characters"),
        ("somente-letras", "must contain a digit"),
        ("1234567890", "must contain a letter"),
    ],
)
async def test_new_passwords_follow_the_policy(
    client: AsyncClient, admin_headers: dict[str, str], password: str, message: str
) -> None:
    body = {"username": "nova.pessoa", "password": password}
    response = await client.post(USERS, json=body, headers=admin_headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert message in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "password"


async def test_a_password_equal_to_the_username_is_refused(
    client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = {"username": "Maria2026", "password": "maria2026"}
    response = await client.post(USERS, json=body, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "password", "message": "must not be the username"}
    ]


async def test_a_reset_follows_the_policy(
    client: AsyncClient, users: MakeUser, settings: Settings
) -> None:
    admin = await users(Role.admin)
    target = await users(Role.viewer)
    response = await client.patch(
        f"{USERS}{target.id}/",
        json={"password": "sem-digitos"},
        headers=await headers_for(settings, admin),
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "password", "message": "must contain a digit"}]


# ---------------------------------------------------------------------------------------------
# Changing one's own password


async def change(
    client: AsyncClient, token: str, current: str = TEST_PASSWORD, new: str = NEW_PASSWORD
) -> Any:
    return await client.post(
        CHANGE, json={"senha_atual": current, "nova_senha": new}, headers=bearer(token)
    )


@pytest.mark.parametrize("role", list(Role))
async def test_anyone_changes_their_own_password(
    client: AsyncClient, users: MakeUser, role: Role
) -> None:
    user = await users(role)
    pair = await login_pair(client, user.username)
    response = await change(client, pair["access"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert (await login(client, user.username)).status_code == 401
    assert (await login(client, user.username, NEW_PASSWORD)).status_code == 200


async def test_the_answer_is_a_new_pair_and_every_other_login_ends(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    here = await login_pair(client, user.username)
    elsewhere = await login_pair(client, user.username)
    response = await change(client, here["access"])
    fresh = response.json()
    assert (await me(client, fresh["access"])).status_code == 200
    assert (await refresh(client, fresh["refresh"])).status_code == 200
    for old in (here, elsewhere):
        assert (await me(client, old["access"])).json() == BAD_TOKEN_BODY
        assert (await refresh(client, old["refresh"])).status_code == 401


async def test_a_wrong_current_password_is_422_and_changes_nothing(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    response = await change(client, pair["access"], current="not-the-password-1")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "senha_atual", "message": "does not match the current password"}
    ]
    assert (await me(client, pair["access"])).status_code == 200
    assert (await login(client, user.username)).status_code == 200


async def test_wrong_current_passwords_count_for_the_login_throttle(
    client: AsyncClient, users: MakeUser, clock: Clock
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    for _ in range(5):
        assert (await change(client, pair["access"], current="guess-1234")).status_code == 422
    throttled = await change(client, pair["access"])
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers
    assert (await login(client, user.username)).status_code == 429


async def test_the_new_password_follows_the_policy(client: AsyncClient, users: MakeUser) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    response = await change(client, pair["access"], new="curta1")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "nova_senha"


async def test_the_new_password_must_differ_from_the_current(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.viewer)
    pair = await login_pair(client, user.username)
    fresh = (await change(client, pair["access"])).json()
    response = await change(client, fresh["access"], current=NEW_PASSWORD, new=NEW_PASSWORD)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "nova_senha", "message": "must differ from the current password"}
    ]


async def test_changing_needs_a_valid_token(client: AsyncClient) -> None:
    response = await client.post(
        CHANGE, json={"senha_atual": TEST_PASSWORD, "nova_senha": NEW_PASSWORD}
    )
    assert response.status_code == 401
