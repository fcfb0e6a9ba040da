"""Mount the admin on the app: sqladmin with our login, roles, templates, assets and CSP."""

from __future__ import annotations

from pathlib import Path

from sqladmin import Admin
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from energy_api.admin.access import RoleAuthorization, SessionLogin, csrf_token
from energy_api.admin.database import AppSessions
from energy_api.admin.views import ClientAdmin, ConsumptionAdmin, ServiceView, UserAdmin
from energy_api.config import Settings

BASE_URL = "/admin"
HERE = Path(__file__).parent
TITLE = "Energy Analytics · Back office"

# What the admin's pages run: scripts and styles from this origin only (no inline script, no
# eval), images and fonts from here or data: URIs (Tabler's CSS draws its icons with them),
# forms posted here only, never framed. The API keeps its deny-all policy.
ADMIN_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)


class AdminHeaders:
    """The admin's CSP on every response, and no caching of its pages (they show personal
    documents); its static assets may be cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        cacheable = "/statics/" in path or "/assets/" in path

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = ADMIN_CSP
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_admin(app: Starlette, settings: Settings) -> Admin:
    """Mount /admin on `app`. Its sessions come from the app's lifespan (`AppSessions`)."""
    login = SessionLogin(app, settings)
    admin = Admin(
        app,
        session_maker=AppSessions(app),
        base_url=BASE_URL,
        title=TITLE,
        favicon_url=f"{BASE_URL}/assets/favicon.svg",
        templates_dir=str(HERE / "templates"),
        middlewares=[Middleware(AdminHeaders)],
        authentication_backend=login,
        authorization_backend=RoleAuthorization(),
    )
    admin.templates.env.globals["csrf_token"] = csrf_token
    login.templates = admin.templates
    admin.admin.router.routes.insert(
        0, Mount("/assets", app=StaticFiles(directory=HERE / "static"), name="assets")
    )
    for view in (ClientAdmin, ConsumptionAdmin, UserAdmin):
        # A subclass per app: sqladmin keeps its wiring on the view class, and so do we.
        bound: type[ServiceView] = type(
            view.__name__, (view,), {"site_app": app, "settings": settings}
        )
        admin.add_view(bound)
    return admin
