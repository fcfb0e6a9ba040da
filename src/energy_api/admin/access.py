"""Who is logged in to /admin, what their role lets them do, and the CSRF check of every form.

Login checks the username and password with `auth.service.check_credentials`, under the same
throttle as `/api/token/` (failures are counted in the same table), and keeps the user's id and
token version in a signed session cookie (HttpOnly, SameSite=Strict, Secure in production,
path /admin). Every later click looks the user up again: a deactivated user, or one whose
password was changed or reset, is logged out at their next click, and a role change applies
at once.

Every request that is not GET or HEAD must carry the session's CSRF token, as the form field
`csrf_token` (forms) or the header `X-CSRF-Token` (the delete button's request); else 403.
The token is made when the session starts and again at login.

Roles: `admin` manages everything, users included; `editor` writes clients and consumptions;
`viewer` only reads. Buttons the role does not allow are not drawn, and their routes answer
403 (sqladmin asks `RoleAuthorization` before every page and every write).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from sqladmin.authentication import AuthenticationBackend
from sqladmin.authorization import Action, AuthorizationBackend
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from energy_api.admin import database
from energy_api.auth import service as auth_service
from energy_api.auth.dependencies import get_client_address
from energy_api.auth.models import Role
from energy_api.auth.principals import Principal
from energy_api.auth.service import LoginThrottled
from energy_api.config import Settings
from energy_api.errors import Unauthorized

logger = logging.getLogger(__name__)

SESSION_COOKIE = "energy_admin"
CSRF_SESSION_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
USERS_IDENTITY = "user"
_READ_ACTIONS = frozenset({Action.LIST, Action.DETAILS})
_WRITE_ACTIONS = frozenset({Action.CREATE, Action.EDIT, Action.DELETE})


def session_secret(settings: Settings) -> str:
    """The cookie-signing key: derived from SECRET_KEY, distinct from the JWT key."""
    return hmac.new(settings.jwt_key.encode(), b"energy-api admin session", "sha256").hexdigest()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (templates call this)."""
    token = request.session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return token


async def csrf_ok(request: Request) -> bool:
    """Whether an unsafe request carries the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return True
    expected = request.session.get(CSRF_SESSION_KEY)
    sent: Any = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get(CSRF_FIELD)
    return (
        isinstance(expected, str)
        and isinstance(sent, str)
        and hmac.compare_digest(expected.encode(), sent.encode())
    )


def csrf_refused() -> Response:
    return PlainTextResponse(
        "The form expired or did not come from this site (CSRF token missing or wrong); "
        "reload the page and try again.",
        status_code=403,
    )


def principal_of(request: Request) -> Principal | None:
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal


class SessionLogin(AuthenticationBackend):
    def __init__(self, app: Starlette, settings: Settings) -> None:
        # Not super().__init__: the session middleware is configured here, not by sqladmin.
        self.app = app
        self.templates: Any = None  # set by `site` once the Admin exists (to render errors)
        self.middlewares = [
            Middleware(
                SessionMiddleware,
                secret_key=session_secret(settings),
                session_cookie=SESSION_COOKIE,
                max_age=settings.admin_session_hours * 3600,
                path="/admin",
                same_site="strict",
                https_only=settings.environment == "production",
            )
        ]

    async def login(self, request: Request) -> Response | bool:
        if not await csrf_ok(request):
            return csrf_refused()
        form = await request.form()
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        if not username or not password:
            return False
        address = get_client_address(request)

        async def check(session: Any) -> Any:
            return await auth_service.check_credentials(session, username, password, address)

        try:
            user = await database.write(self.app, check)
        except LoginThrottled as exc:
            return await self._login_error(request, exc.detail, 429, exc.headers)
        except Unauthorized:
            return False
        request.session.clear()
        request.session.update({"uid": user.id, "ver": user.token_version})
        csrf_token(request)  # a new token for the new session
        return True

    async def _login_error(
        self, request: Request, message: str, status: int, headers: dict[str, str]
    ) -> Response:
        response: Response = await self.templates.TemplateResponse(
            request, "sqladmin/login.html", {"error": message}, status_code=status
        )
        response.headers.update(headers)
        return response

    async def logout(self, request: Request) -> Response | bool:
        request.session.clear()
        return RedirectResponse(request.url_for("admin:login"), status_code=302)

    async def authenticate(self, request: Request) -> Response | bool:
        user_id, version = request.session.get("uid"), request.session.get("ver")
        if not isinstance(user_id, int) or not isinstance(version, int):
            return False

        async def look_up(session: Any) -> Principal | None:
            return await auth_service.session_principal(session, user_id, version)

        principal = await database.read(self.app, look_up)
        if principal is None:
            request.session.clear()
            return False
        if not await csrf_ok(request):
            return csrf_refused()
        request.state.principal = principal
        return True

    async def get_user_id(self, request: Request) -> Any:
        principal = principal_of(request)
        return principal.id if principal else None


class RoleAuthorization(AuthorizationBackend):
    """admin: everything; editor: read and write clients and consumptions; viewer: read them."""

    def has_permission(
        self, request: Request, identity: str, action: str, obj: Any | None = None
    ) -> bool:
        principal = principal_of(request)
        if principal is None:
            return False
        if principal.role == Role.admin:
            return action in _READ_ACTIONS | _WRITE_ACTIONS
        if identity == USERS_IDENTITY:
            return False
        if action in _READ_ACTIONS:
            return True
        return action in _WRITE_ACTIONS and principal.role.rank >= Role.editor.rank
