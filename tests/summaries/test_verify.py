"""`energy-api summaries verify` finds rows changed behind the service's back; `rebuild`
repairs them — all of them, or one client's own rows with `--client`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text, update

from energy_api.auth.models import Role
from energy_api.config import Settings
from energy_api.db import create_engine, create_sessionmaker
from energy_api.summaries.models import ClientTotal, PortfolioMonth
from tests.conftest import ROOT, TEST_SECRET, access_token, make_settings
from tests.factories import next_cpf
from tests.resilience.conftest import add_committed_user, running_app

EXECUTABLE = Path(sys.executable).with_name("energy-api")


def energy_api(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in {name.upper() for name in Settings.model_fields}
    }
    environment.update(DATABASE_URL=url, ENVIRONMENT="test", SECRET_KEY=TEST_SECRET)
    return subprocess.run(
        [str(EXECUTABLE), "summaries", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=60,
        check=False,
    )


async def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(energy_api, url, *args)


async def two_clients_with_records(url: str) -> list[int]:
    settings = make_settings(url)
    editor = await add_committed_user(url, Role.editor)
    headers = {"Authorization": f"Bearer {access_token(settings, editor)}"}
    ids = []
    async with running_app(settings) as http:
        http.headers.update(headers)
        for kwh in ("100", "250.5"):
            created = await http.post(
                "/api/v1/clientes/", json={"nome": "Cliente", "documento": next_cpf()}
            )
            ids.append(created.json()["id"])
            for mes in ("2025-01", "2025-02", "2026-01"):
                body = {"cliente": ids[-1], "mes": mes, "consumo_kwh": float(kwh)}
                assert (await http.post("/api/v1/consumos/", json=body)).status_code == 201
    return ids


async def tamper(url: str, *statements: object) -> None:
    engine = create_engine(url, make_settings(url))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for statement in statements:
                await session.execute(statement)  # type: ignore[call-overload]
    finally:
        await engine.dispose()


async def test_verify_passes_on_summaries_kept_by_the_service(committed_url: str) -> None:
    await two_clients_with_records(committed_url)

    result = await run(committed_url, "verify")

    assert (result.returncode, result.stdout.strip()) == (
        0,
        "summaries: every table equals a rebuild from the consumptions",
    )


async def test_verify_reports_a_changed_row_and_rebuild_repairs_it(committed_url: str) -> None:
    first, _ = await two_clients_with_records(committed_url)
    await tamper(
        committed_url,
        update(ClientTotal).where(ClientTotal.client_id == first).values(total_cents=1),
        update(PortfolioMonth).values(clients=PortfolioMonth.clients + 1),
    )

    found = await run(committed_url, "verify")
    assert found.returncode == 1
    assert "client_totals: 1 row(s) missing, 1 row(s) extra" in found.stdout
    assert f"stored, not expected: ({first}, 1, 3)" in found.stdout
    assert "portfolio_months: 3 row(s) missing, 3 row(s) extra" in found.stdout
    assert "stored, not expected: (2025-01-01, 35050, 3)" in found.stdout

    repaired = await run(committed_url, "rebuild")
    assert (repaired.returncode, repaired.stdout.strip()) == (
        0,
        "rebuilt every summary table from the consumptions",
    )
    assert (await run(committed_url, "verify")).returncode == 0


async def test_rebuild_of_one_client_repairs_its_own_rows(committed_url: str) -> None:
    first, second = await two_clients_with_records(committed_url)
    await tamper(
        committed_url,
        text(f"DELETE FROM client_trailing_years WHERE client_id = {first}"),  # noqa: S608
    )
    assert (
        "client_trailing_years: 24 row(s) missing, 0 row(s) extra"
        in (await run(committed_url, "verify")).stdout
    )

    repaired = await run(committed_url, "rebuild", "--client", str(first))

    assert repaired.returncode == 0, repaired.stderr
    assert (await run(committed_url, "verify")).returncode == 0
    unknown = await run(committed_url, "rebuild", "--client", "999999")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "energy-api: no client with id 999999",
    )
    del second
