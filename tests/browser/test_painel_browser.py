"""/painel/ in Chromium: the cards show the API's figures, the chart is drawn, the tables are
filled, nothing is fetched from elsewhere and nothing is logged as an error."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import PASSWORDS, Server, Watched
from tests.factories import cpf_from

SPIKE_MONTHS = [f"2025-{m:02d}" for m in range(6, 13)] + [f"2026-{m:02d}" for m in range(1, 12)]


@pytest.fixture(scope="module")
def anomalous_client(server: Server) -> int:
    """A client whose last month is far above its history, so anomalias has a row."""
    client = server.api(
        "POST",
        "/api/v1/clientes/",
        json={"nome": "Indústria Pico", "documento": cpf_from(246813579)},
    )
    for mes in SPIKE_MONTHS:
        kwh = 2500 if mes == SPIKE_MONTHS[-1] else 500 + (len(mes) % 3)
        server.api(
            "POST",
            "/api/v1/consumos/",
            json={"cliente": client["id"], "mes": mes, "consumo_kwh": kwh},
        )
    client_id: int = client["id"]
    return client_id


def wait_until(page: Watched, predicate: str, timeout: float = 10.0) -> None:
    """Poll `predicate` (a JS function) with evaluate: Playwright's wait_for_function builds
    its predicate with eval, which the page's CSP (rightly) refuses."""
    deadline = time.monotonic() + timeout
    while not page.page.evaluate(predicate):
        if time.monotonic() > deadline:
            status = page.page.text_content("#status")
            raise AssertionError(f"timed out waiting for {predicate} (status: {status})")
        time.sleep(0.05)


def log_in(page: Watched, server: Server) -> None:
    page.page.goto(f"{server.base_url}/painel/")
    page.page.fill("#username", "admin")
    page.page.fill("#password", PASSWORDS["admin"])
    page.page.click("#login-submit")
    page.page.wait_for_selector("#ranking-body tr")
    page.page.wait_for_selector("#anomalies-body tr")


def test_dashboard_shows_the_apis_figures(
    page: Watched, server: Server, anomalous_client: int
) -> None:
    log_in(page, server)
    de = page.page.input_value("#de")
    ate = page.page.input_value("#ate")
    summary = server.api("GET", "/api/v1/analytics/resumo/", params={"de": de, "ate": ate})
    cards = {
        "card-clientes": summary["clientes"],
        "card-total": summary["total_kwh"],
        "card-media": summary["media_kwh"],
        "card-dia": summary["kwh_por_dia"],
    }
    for card, value in cards.items():
        assert float(page.page.get_attribute(f"#{card}", "data-value") or "nan") == value, card
    assert page.page.text_content("#card-clientes") == str(summary["clientes"])

    drawn = page.page.evaluate(
        """() => {
          const canvas = document.querySelector('#chart canvas');
          if (!canvas || !canvas.width || !canvas.height) return 0;
          const context = canvas.getContext('2d');
          const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
          let painted = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
          return painted;
        }"""
    )
    assert drawn > 1000

    ranking = server.api(
        "GET", "/api/v1/analytics/ranking/", params={"de": de, "ate": ate, "limite": 10}
    )
    assert page.page.locator("#ranking-body tr").count() == len(ranking["itens"]) > 0
    first_name = page.page.text_content("#ranking-body tr:first-child td:nth-child(2)")
    assert first_name == ranking["itens"][0]["nome"]
    assert (
        page.page.locator(
            "#anomalies-body tr.severity-critica, #anomalies-body tr.severity-alerta"
        ).count()
        > 0
    )
    page.screenshot("painel-portfolio")
    assert page.errors == []
    assert all(url.startswith(server.base_url) for url in page.requests), page.requests


def test_choosing_a_client_shows_growth_and_trend(
    page: Watched, server: Server, anomalous_client: int
) -> None:
    log_in(page, server)
    page.page.fill("#cliente", "Pico")
    page.page.wait_for_selector(
        f"#clientes-lista option[value$='(#{anomalous_client})']", state="attached"
    )
    page.page.fill("#cliente", f"Indústria Pico (#{anomalous_client})")
    page.page.wait_for_selector("#client-panel:not([hidden])")
    wait_until(page, "() => document.querySelector('#growth-kwh').dataset.value")
    growth = server.api(
        "GET",
        "/api/v1/analytics/crescimento/",
        params={
            "cliente_id": anomalous_client,
            "de": page.page.input_value("#de"),
            "ate": page.page.input_value("#ate"),
        },
    )
    assert (
        float(page.page.get_attribute("#growth-kwh", "data-value") or "nan")
        == growth["consumo_kwh"]
    )
    page.page.select_option("#agrupar", "trimestre")
    wait_until(
        page,
        "() => /\\d{4}-T[1-4]/.test(document.querySelector('#chart').dataset.periods || '')",
    )
    page.screenshot("painel-client")
    assert page.errors == []
    assert all(url.startswith(server.base_url) for url in page.requests), page.requests
