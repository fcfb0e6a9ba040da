"""/admin: logging in, roles, CSRF, and writes that go through the services."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import Role, User
from energy_api.clients import service as clients_service
from energy_api.clients.models import Client
from energy_api.config import Settings
from energy_api.consumptions import service as consumptions_service
from energy_api.consumptions.models import Consumption
from energy_api.summaries import service as summaries_service
from tests.admin.conftest import Browser
from tests.auth.helpers import login
from tests.conftest import access_token
from tests.factories import next_cpf

LoggedIn = Callable[[Role], Any]


async def seeded(session: AsyncSession, settings: Settings) -> tuple[Client, Consumption]:
    """A client and a record written through the services (so the summaries hold them)."""
    client = await clients_service.create(
        session, settings, name="Maria da Silva", document=next_cpf()
    )
    consumption, _ = await consumptions_service.create(
        session, client_id=client.id, month=consumptions_date("2026-01"), kwh=Decimal("300")
    )
    await consumptions_service.create(
        session, client_id=client.id, month=consumptions_date("2026-02"), kwh=Decimal("100")
    )
    await session.commit()
    return client, consumption


def consumptions_date(mes: str) -> Any:
    from energy_api import months

    return months.parse_month_only(mes)


async def resumo(client: AsyncClient, settings: Settings, user: User, client_id: int) -> Any:
    response = await client.get(
        "/api/v1/analytics/resumo/",
        params={"cliente_id": client_id},
        headers={"Authorization": f"Bearer {access_token(settings, user)}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------------------------------
# Logging in


async def test_login_page_has_labelled_fields_and_a_csrf_token(
    browser: Callable[[], Browser],
) -> None:
    session = browser()
    response = await session.get("/admin/login")
    assert response.status_code == 200
    assert '<label class="form-label" for="username">' in response.text
    assert 'name="csrf_token"' in response.text
    assert session.csrf


async def test_session_cookie_is_httponly_samesite_strict_on_admin_path(
    browser: Callable[[], Browser],
) -> None:
    response = await browser().get("/admin/login")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/admin" in cookie


async def test_login_without_the_csrf_token_is_403(
    browser: Callable[[], Browser], users: Callable[..., Any]
) -> None:
    user = await users(Role.admin)
    session = browser()
    await session.get("/admin/login")
    response = await session.post(
        "/admin/login", {"username": user.username, "password": "x"}, csrf=False
    )
    assert response.status_code == 403


async def test_wrong_password_is_refused_and_counts_for_the_api_throttle(
    browser: Callable[[], Browser], users: Callable[..., Any], client: AsyncClient
) -> None:
    user = await users(Role.editor)
    session = browser()
    await session.get("/admin/login")
    for _ in range(5):
        response = await session.post(
            "/admin/login", {"username": user.username, "password": "wrong-1234"}
        )
        assert response.status_code == 400
        assert "Invalid credentials." in response.text
    throttled = await session.post("/admin/login", {"username": user.username, "password": "x"})
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers
    assert (await login(client, user.username)).status_code == 429


async def test_pages_need_a_login(browser: Callable[[], Browser]) -> None:
    response = await browser().get("/admin/consumption/list")
    assert response.status_code == 302
    assert response.headers["location"].endswith("/admin/login")


async def test_a_deactivated_user_is_out_at_the_next_click(
    logged_in: LoggedIn, db_session: AsyncSession
) -> None:
    session, user = await logged_in(Role.editor)
    assert (await session.get("/admin/client/list")).status_code == 200
    user.is_active = False
    await db_session.commit()
    response = await session.get("/admin/client/list")
    assert response.status_code == 302
    assert response.headers["location"].endswith("/admin/login")


async def test_a_password_change_ends_the_admin_session(
    logged_in: LoggedIn, db_session: AsyncSession
) -> None:
    session, user = await logged_in(Role.editor)
    user.token_version += 1
    await db_session.commit()
    assert (await session.get("/admin/client/list")).status_code == 302


async def test_logout_ends_the_session(logged_in: LoggedIn) -> None:
    session, _ = await logged_in(Role.viewer)
    await session.get("/admin/logout")
    assert (await session.get("/admin/client/list")).status_code == 302


# ---------------------------------------------------------------------------------------------
# Headers


async def test_admin_pages_get_their_own_csp_and_no_store(logged_in: LoggedIn) -> None:
    session, _ = await logged_in(Role.viewer)
    response = await session.get("/admin/consumption/list")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


async def test_admin_assets_are_served_locally(browser: Callable[[], Browser]) -> None:
    session = browser()
    page = await session.get("/admin/login")
    for asset in ("/admin/statics/css/tabler.min.css", "/admin/statics/js/jquery.min.js"):
        assert asset in page.text
        assert (await session.get(asset)).status_code == 200
    assert "cdn" not in page.text.lower()
    assert (await session.get("/admin/assets/admin.js")).status_code == 200


async def test_the_api_keeps_its_deny_all_csp(client: AsyncClient) -> None:
    response = await client.get("/api/v1/clientes/")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src" not in response.headers["content-security-policy"]


# ---------------------------------------------------------------------------------------------
# Roles


async def test_a_viewer_sees_no_write_controls(
    logged_in: LoggedIn, db_session: AsyncSession, settings: Settings
) -> None:
    _, consumption = await seeded(db_session, settings)
    session, _ = await logged_in(Role.viewer)
    page = await session.get("/admin/consumption/list")
    assert page.status_code == 200
    assert "Maria da Silva" in page.text
    assert "/admin/consumption/create" not in page.text
    assert f"/admin/consumption/edit/{consumption.id}" not in page.text
    assert "/admin/consumption/delete" not in page.text
    details = await session.get(f"/admin/consumption/details/{consumption.id}")
    assert details.status_code == 200
    assert "/edit/" not in details.text


async def test_a_viewers_forged_writes_get_403_and_change_nothing(
    logged_in: LoggedIn, db_session: AsyncSession, settings: Settings
) -> None:
    client, consumption = await seeded(db_session, settings)
    session, _ = await logged_in(Role.viewer)
    form = {"cliente": client.id, "mes": "2026-01", "consumo_kwh": "999", "save": "Save"}
    edited = await session.post(f"/admin/consumption/edit/{consumption.id}", form)
    created = await session.post("/admin/consumption/create", {**form, "mes": "2026-05"})
    deleted = await session.delete(f"/admin/consumption/delete?pks={consumption.id}")
    assert [edited.status_code, created.status_code, deleted.status_code] == [403, 403, 403]
    stored = await db_session.scalar(
        select(Consumption.kwh).where(Consumption.id == consumption.id)
    )
    assert stored == Decimal("300")


async def test_users_are_for_admins_only(logged_in: LoggedIn) -> None:
    session, _ = await logged_in(Role.editor)
    assert (await session.get("/admin/user/list")).status_code == 403
    index = await session.get("/admin/")
    assert "/admin/user/list" not in index.text


async def test_an_editor_without_the_csrf_token_gets_403(
    logged_in: LoggedIn, db_session: AsyncSession, settings: Settings
) -> None:
    client, consumption = await seeded(db_session, settings)
    session, _ = await logged_in(Role.editor)
    form = {"cliente": client.id, "mes": "2026-01", "consumo_kwh": "1", "save": "Save"}
    response = await session.post(f"/admin/consumption/edit/{consumption.id}", form, csrf=False)
    assert response.status_code == 403
    assert (
        await session.delete(f"/admin/consumption/delete?pks={consumption.id}", csrf=False)
    ).status_code == 403


# ---------------------------------------------------------------------------------------------
# Writes go through the services


async def test_an_editors_edit_changes_resumo_and_keeps_the_summaries_exact(
    logged_in: LoggedIn,
    db_session: AsyncSession,
    settings: Settings,
    client: AsyncClient,
) -> None:
    customer, consumption = await seeded(db_session, settings)
    session, user = await logged_in(Role.editor)
    before = await resumo(client, settings, user, customer.id)
    assert before["total_kwh"] == 400
    await session.get(f"/admin/consumption/edit/{consumption.id}")
    response = await session.post(
        f"/admin/consumption/edit/{consumption.id}",
        {"cliente": customer.id, "mes": "2026-01", "consumo_kwh": "350,50", "save": "Save"},
    )
    assert response.status_code == 302, response.text
    after = await resumo(client, settings, user, customer.id)
    assert after["total_kwh"] == 450.5
    assert await summaries_service.verify(db_session) == []


async def test_an_editor_creates_and_deletes_records_and_the_summaries_follow(
    logged_in: LoggedIn, db_session: AsyncSession, settings: Settings
) -> None:
    customer, consumption = await seeded(db_session, settings)
    session, _ = await logged_in(Role.editor)
    await session.get("/admin/consumption/create")
    created = await session.post(
        "/admin/consumption/create",
        {"cliente": customer.id, "mes": "2026-03", "consumo_kwh": "123.45", "save": "Save"},
    )
    assert created.status_code == 302, created.text
    await session.get("/admin/consumption/list")
    deleted = await session.delete(f"/admin/consumption/delete?pks={consumption.id}")
    assert deleted.status_code == 200
    kwh = (
        await db_session.scalars(
            select(Consumption.kwh)
            .where(Consumption.client_id == customer.id)
            .order_by(Consumption.month)
        )
    ).all()
    assert kwh == [Decimal("100"), Decimal("123.45")]
    assert await summaries_service.verify(db_session) == []


async def test_a_duplicate_month_is_refused_with_the_services_message(
    logged_in: LoggedIn, db_session: AsyncSession, settings: Settings
) -> None:
    customer, _ = await seeded(db_session, settings)
    session, _ = await logged_in(Role.editor)
    await session.get("/admin/consumption/create")
    response = await session.post(
        "/admin/consumption/create",
        {"cliente": customer.id, "mes": "2026-02", "consumo_kwh": "1", "save": "Save"},
    )
    assert response.status_code == 400
    assert f"Client {customer.id} already has a consumption for 2026-02" in response.text


@pytest.mark.parametrize("mes", ["2026-13", "2026-02-15", "1899-12", ""])
async def test_the_month_rule_holds_in_the_form(
    logged_in: LoggedIn, db_session: AsyncSession, settings: Settings, mes: str
) -> None:
    customer, _ = await seeded(db_session, settings)
    session, _ = await logged_in(Role.editor)
    await session.get("/admin/consumption/create")
    response = await session.post(
        "/admin/consumption/create",
        {"cliente": customer.id, "mes": mes, "consumo_kwh": "1", "save": "Save"},
    )
    assert response.status_code == 400


async def test_document_check_digits_hold_in_the_client_form(logged_in: LoggedIn) -> None:
    session, _ = await logged_in(Role.editor)
    await session.get("/admin/client/create")
    response = await session.post(
        "/admin/client/create", {"nome": "Fulano", "documento": "529.982.247-24", "save": "Save"}
    )
    assert response.status_code == 400
    assert "wrong CPF check digits" in response.text


async def test_an_editor_creates_a_client_with_a_normalised_document(
    logged_in: LoggedIn, db_session: AsyncSession
) -> None:
    session, _ = await logged_in(Role.editor)
    await session.get("/admin/client/create")
    response = await session.post(
        "/admin/client/create", {"nome": "Fulano", "documento": "529.982.247-25", "save": "Save"}
    )
    assert response.status_code == 302, response.text
    stored = await db_session.scalar(select(Client).where(Client.document == "52998224725"))
    assert stored is not None


async def test_deleting_a_client_takes_its_records_out_of_the_summaries(
    logged_in: LoggedIn, db_session: AsyncSession, settings: Settings
) -> None:
    customer, _ = await seeded(db_session, settings)
    session, _ = await logged_in(Role.editor)
    await session.get("/admin/client/list")
    response = await session.delete(f"/admin/client/delete?pks={customer.id}")
    assert response.status_code == 200
    assert await db_session.scalar(select(Client.id).where(Client.id == customer.id)) is None
    assert await summaries_service.verify(db_session) == []


# ---------------------------------------------------------------------------------------------
# Users


async def test_an_admin_creates_a_user_under_the_password_policy(
    logged_in: LoggedIn, db_session: AsyncSession
) -> None:
    session, _ = await logged_in(Role.admin)
    await session.get("/admin/user/create")
    weak = await session.post(
        "/admin/user/create",
        {"username": "nova.pessoa", "password": "sem-digitos", "role": "editor", "save": "Save"},
    )
    assert weak.status_code == 400
    assert "must contain a digit" in weak.text
    good = await session.post(
        "/admin/user/create",
        {"username": "nova.pessoa", "password": "senha-boa-1", "role": "editor", "save": "Save"},
    )
    assert good.status_code == 302, good.text
    stored = await db_session.scalar(select(User).where(User.username == "nova.pessoa"))
    assert stored is not None
    assert stored.role == "editor"
    assert stored.password_hash.startswith("$argon2")


async def test_the_last_admin_cannot_demote_themselves_in_the_admin(
    logged_in: LoggedIn, db_session: AsyncSession
) -> None:
    session, admin = await logged_in(Role.admin)
    await session.get(f"/admin/user/edit/{admin.id}")
    response = await session.post(
        f"/admin/user/edit/{admin.id}", {"role": "viewer", "ativo": "y", "save": "Save"}
    )
    assert response.status_code == 400
    assert "At least one active admin must remain" in response.text


async def test_user_pages_never_show_password_hashes(logged_in: LoggedIn) -> None:
    session, admin = await logged_in(Role.admin)
    for page in (
        await session.get("/admin/user/list"),
        await session.get(f"/admin/user/details/{admin.id}"),
        await session.get(f"/admin/user/edit/{admin.id}"),
    ):
        assert page.status_code == 200
        assert "$argon2" not in page.text
