"""/docs and /redoc served with their assets from this service (no CDN), under a strict CSP.

Each page gets a Content-Security-Policy that allows exactly what it runs: scripts from this
origin plus its own inline scripts by hash, styles from this origin and inline (Swagger UI and
ReDoc set style attributes and inject style elements), images from this origin and data: URIs,
and for ReDoc a web worker built from a blob: URL. The API itself keeps its deny-all policy
(`energy_api.http.middleware`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_URL = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def inline_script_hashes(html: str) -> list[str]:
    """CSP source expressions ('sha256-…') for each inline <script> element of `html`."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def docs_csp(html: str) -> str:
    scripts = " ".join(["'self'", *inline_script_hashes(html)])
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        )
    )


class _Page:
    """A fixed page and the CSP that fits it (the HTML never changes, so both are built once)."""

    def __init__(self, generated: HTMLResponse) -> None:
        self.html = bytes(generated.body).decode()
        self.csp = docs_csp(self.html)

    def response(self) -> HTMLResponse:
        return HTMLResponse(self.html, headers={"Content-Security-Policy": self.csp})


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs (with the OAuth2 password flow) and ReDoc at /redoc."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    swagger = _Page(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )
    )
    swagger_redirect = _Page(get_swagger_ui_oauth2_redirect_html())
    redoc_page = _Page(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
    )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return swagger.response()

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return swagger_redirect.response()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return redoc_page.response()
