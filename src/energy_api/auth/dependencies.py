"""Authentication and role dependencies shared by every router under /api/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import OAuth2PasswordBearer

from energy_api.auth import service
from energy_api.auth.models import Role
from energy_api.auth.principals import Principal, PrincipalCache
from energy_api.config import Settings
from energy_api.db import ReaderDep
from energy_api.errors import Unauthorized
from energy_api.observability.logging import current_request

TOKEN_FORM_URL = "/api/token/form/"

# Declares the OAuth2 password flow in OpenAPI, so /docs' Authorize dialog asks for a username
# and password; errors are raised by us as problem+json rather than by the scheme.
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_FORM_URL,
    auto_error=False,
    description="Log in with a username and password; every /api/v1 route needs the token.",
)


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


async def get_current_user(
    request: Request,
    reader: ReaderDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    if not token:
        raise Unauthorized("Not authenticated")
    state = request.app.state
    principals: PrincipalCache = state.principals
    principal = await service.principal_from_access_token(
        reader, state.settings, principals, state.verified_tokens, token
    )
    info = current_request.get()
    if info is not None:
        info.user_id = principal.id
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require_role(role: Role) -> object:
    async def dependency(user: CurrentUser) -> Principal:
        service.ensure_role(user, role)
        return user

    dependency.__name__ = f"require_{role.value}"
    return Depends(dependency)


Viewer = Annotated[Principal, require_role(Role.viewer)]
Editor = Annotated[Principal, require_role(Role.editor)]
Admin = Annotated[Principal, require_role(Role.admin)]
