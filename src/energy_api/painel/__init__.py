"""/painel/: the back-office dashboard, a static page that calls only the public API.

Its source is TypeScript under `web/painel/` (typed from this service's OpenAPI document); the
built files in `static/` are committed, so serving it needs no Node (`make painel` rebuilds
them). The page gets a CSP of its own: its script, styles and API calls from this origin only,
no inline code, no form posts (login goes through `fetch` to `/api/token/`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).parent / "static"
BASE_URL = "/painel"

PAINEL_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)


def install_painel(app: FastAPI) -> None:
    app.mount(f"{BASE_URL}/assets", StaticFiles(directory=STATIC), name="painel-assets")

    @app.get(BASE_URL, include_in_schema=False)
    async def painel_redirect() -> RedirectResponse:
        return RedirectResponse(f"{BASE_URL}/", status_code=308)

    @app.get(f"{BASE_URL}/", include_in_schema=False)
    async def painel() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            headers={"Content-Security-Policy": PAINEL_CSP, "Cache-Control": "no-cache"},
        )
