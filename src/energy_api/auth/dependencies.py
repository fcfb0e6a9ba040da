"""Authentication and role dependencies shared by every router under /api/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import OAuth2PasswordBearer

from energy_api.auth import service
from energy_api.auth.models import Role
from energy_api.auth.principals import Principal
from energy_api.config import Settings
from energy_api.errors import Unauthorized
from energy_api.observability.logging import current_request

TOKEN_FORM_URL = "/api/token/form/"


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_client_address(request: Request) -> str:
    """The peer address as the server sees it (uvicorn applies X-Forwarded-For only from
    trusted proxies); "unknown" when the transport has none."""
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(get_client_address)]


def no_store(response: Response) -> None:
    """Token responses must not be cached (RFC 6749 §5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


class BearerPrincipal(OAuth2PasswordBearer):
    """The caller of an /api/v1 route: the active user its access token speaks for, holding at
    least `role` (401 without a valid token, 403 below the role).

    Declares the OAuth2 password flow in OpenAPI, so /docs' Authorize dialog asks for a username
    and password; errors are raised by us as problem+json rather than by the scheme. It is one
    dependency whose only parameter is the request, and it takes the reader, the settings and the
    caches from the app's state: on the hottest routes FastAPI's resolution of a tree of small
    dependencies cost more than checking the token.
    """

    def __init__(self, role: Role) -> None:
        super().__init__(
            tokenUrl=TOKEN_FORM_URL,
            auto_error=False,
            scheme_name="OAuth2PasswordBearer",
            description="Log in with a username and password; every /api/v1 route needs the token.",
        )
        self.role = role

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        token = await super().__call__(request)
        if not token:
            raise Unauthorized("Not authenticated")
        state = request.app.state
        principal = await service.principal_from_access_token(
            state.reader, state.settings, state.principals, state.verified_tokens, token
        )
        info = current_request.get()
        if info is not None:
            info.user_id = principal.id  # for the request's log line
        service.ensure_role(principal, self.role)
        return principal


Viewer = Annotated[Principal, Depends(BearerPrincipal(Role.viewer))]
Editor = Annotated[Principal, Depends(BearerPrincipal(Role.editor))]
Admin = Annotated[Principal, Depends(BearerPrincipal(Role.admin))]
# Any active user, whatever the role.
CurrentUser = Viewer
