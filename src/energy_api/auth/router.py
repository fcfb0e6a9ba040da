from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, status

from energy_api.auth import service
from energy_api.auth.dependencies import (
    TOKEN_FORM_URL,
    Admin,
    ClientAddress,
    SettingsDep,
    Viewer,
    no_store,
)
from energy_api.auth.schemas import (
    OAuth2Token,
    RefreshRequest,
    TokenPair,
    TokenRequest,
    UserCreate,
    UserRead,
)
from energy_api.db import SessionDep
from energy_api.errors import problem_responses
from energy_api.http.routing import TransactionRoute

router = APIRouter(
    prefix="/api/token",
    tags=["auth"],
    dependencies=[Depends(no_store)],
    route_class=TransactionRoute,
)
users_router = APIRouter(prefix="/api/v1/usuarios", tags=["usuarios"], route_class=TransactionRoute)


def _login_responses() -> dict[int | str, dict[str, Any]]:
    responses = problem_responses(401, 422, 429)
    responses[429]["headers"] = {
        "Retry-After": {
            "description": "Seconds until a login may be attempted again",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    return responses


@router.post(
    "/",
    name="token",
    summary="Log in",
    response_model=TokenPair,
    responses=_login_responses(),
)
async def obtain_token(
    body: TokenRequest, session: SessionDep, settings: SettingsDep, address: ClientAddress
) -> TokenPair:
    """Log in: an access token for the API and a refresh token to renew it.

    After 5 failed attempts for a username, or 20 from one address, within 15 minutes,
    logins answer 429 with `Retry-After`.
    """
    return await service.authenticate(session, settings, body.username, body.password, address)


@router.post(
    "/refresh/",
    name="refresh",
    summary="Renew tokens",
    response_model=TokenPair,
    responses=problem_responses(401, 422),
)
async def refresh_token(
    body: RefreshRequest, session: SessionDep, settings: SettingsDep
) -> TokenPair:
    """Exchange a refresh token for a new access token and a new refresh token.

    The presented refresh token is retired. Presenting a retired token again revokes every
    token of that login (it was copied), so both holders must log in again.
    """
    return await service.refresh(session, settings, body.refresh)


@router.post(
    "/revoke/",
    name="revoke",
    summary="Log out (revoke a refresh token's login)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(422),
)
async def revoke_token(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> None:
    """Log out: revoke the given refresh token and every other token of the same login.

    Always 204 for a well-formed body (RFC 7009): an invalid, expired or already revoked
    token is not an error and revokes nothing. Access tokens already issued stay valid until
    they expire.
    """
    await service.revoke(session, settings, body.refresh)


@router.post(
    TOKEN_FORM_URL.removeprefix("/api/token"),
    name="token-form",
    summary="Log in (OAuth2 form, for /docs)",
    response_model=OAuth2Token,
    responses=_login_responses(),
)
async def obtain_token_form(
    username: Annotated[str, Form(min_length=1, max_length=150)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    session: SessionDep,
    settings: SettingsDep,
    address: ClientAddress,
) -> OAuth2Token:
    """OAuth2 password flow (form-encoded), used by the Authorize dialog of /docs."""
    pair = await service.authenticate(session, settings, username.strip(), password, address)
    return OAuth2Token(
        access_token=pair.access, refresh_token=pair.refresh, expires_in=pair.expires_in
    )


@users_router.get(
    "/me/",
    name="me",
    summary="The current user",
    response_model=UserRead,
    responses=problem_responses(401),
)
async def read_me(user: Viewer) -> UserRead:
    """The user the access token belongs to."""
    return UserRead.model_validate(user)


@users_router.post(
    "/",
    name="create",
    summary="Create a user",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_user(body: UserCreate, session: SessionDep, _: Admin) -> UserRead:
    """Create a user with a role (admin only)."""
    user = await service.create_user(session, body.username, body.password, body.role)
    return UserRead.model_validate(user)
