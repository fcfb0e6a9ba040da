"""The committed /painel/ build matches its sources and the service's OpenAPI document, so
`make run` serves what the sources say without Node (`make painel` rebuilds it)."""

from __future__ import annotations

import hashlib
import json

from httpx import AsyncClient

from energy_api.painel import STATIC
from energy_api.painel.openapi import document
from tests.conftest import ROOT

WEB = ROOT / "web" / "painel"


def test_types_were_generated_from_the_current_openapi_document() -> None:
    committed = (WEB / "openapi.json").read_text()
    assert json.loads(committed) == json.loads(document()), "run `make painel`"


def test_built_assets_match_their_sources() -> None:
    manifest = json.loads((STATIC / "manifest.json").read_text())
    digest = hashlib.sha256()
    for name in manifest["inputs"]:
        digest.update(name.encode() + b"\0")
        digest.update((WEB / name).read_bytes())
        digest.update(b"\0")
    sources = sorted(f"src/{path.name}" for path in (WEB / "src").iterdir())
    assert [name for name in manifest["inputs"] if name.startswith("src/")] == sources
    assert manifest["sha256"] == digest.hexdigest(), "run `make painel`"


async def test_painel_is_served_with_its_own_csp(client_without_database: AsyncClient) -> None:
    response = await client_without_database.get("/painel/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe" not in csp
    assert "form-action 'none'" in csp
    assert (await client_without_database.get("/painel/assets/painel.js")).status_code == 200
    assert (await client_without_database.get("/painel")).headers["location"] == "/painel/"
