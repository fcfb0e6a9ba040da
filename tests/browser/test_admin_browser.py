"""/admin in Chromium: an editor edits a record and resumo follows; a viewer cannot write."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import PASSWORDS, Server, Watched


def log_in(page: Watched, server: Server, username: str) -> None:
    page.page.goto(f"{server.base_url}/admin/login")
    page.page.fill("#username", username)
    page.page.fill("#password", PASSWORDS[username])
    page.page.click("button[type=submit]")
    page.page.wait_for_url(re.compile(r"/admin/$"))


def first_record(server: Server) -> dict[str, Any]:
    item: dict[str, Any] = server.api("GET", "/api/v1/consumos/", params={"limit": 1})["items"][0]
    return item


def total(server: Server, client_id: int) -> float:
    value: float = server.api("GET", "/api/v1/analytics/resumo/", params={"cliente_id": client_id})[
        "total_kwh"
    ]
    return value


def test_an_editor_edits_a_consumption_and_resumo_changes(page: Watched, server: Server) -> None:
    record = first_record(server)
    before = total(server, record["cliente"])
    log_in(page, server, "editora")
    page.page.goto(f"{server.base_url}/admin/consumption/list")
    page.page.click(f"a[href$='/admin/consumption/edit/{record['id']}']")
    page.page.fill("#consumo_kwh", f"{record['consumo_kwh'] + 1000:.2f}".replace(".", ","))
    page.screenshot("admin-editor-edit")
    page.page.click("input[type=submit][value=Save]")
    page.page.wait_for_url(re.compile(r"/admin/consumption/list"))
    page.screenshot("admin-editor-list")
    assert total(server, record["cliente"]) == before + 1000
    assert page.errors == []
    assert all(url.startswith(server.base_url) for url in page.requests), page.requests


def test_a_viewer_has_no_write_controls_and_a_forged_post_gets_403(
    page: Watched, server: Server
) -> None:
    record = first_record(server)
    log_in(page, server, "leitor")
    page.page.goto(f"{server.base_url}/admin/consumption/list")
    page.screenshot("admin-viewer-list")
    assert page.page.locator("a[href*='/admin/consumption/edit/']").count() == 0
    assert page.page.locator("a[href*='/admin/consumption/create']").count() == 0
    assert page.page.locator("[data-url*='/admin/consumption/delete']").count() == 0
    token = page.page.locator("meta[name=csrf-token]").get_attribute("content")
    forged = page.page.request.post(
        f"{server.base_url}/admin/consumption/edit/{record['id']}",
        form={
            "csrf_token": token or "",
            "cliente": str(record["cliente"]),
            "mes": record["mes"][:7],
            "consumo_kwh": "1",
            "save": "Save",
        },
    )
    assert forged.status == 403
    assert first_record(server)["consumo_kwh"] == record["consumo_kwh"]
    assert page.errors == []
