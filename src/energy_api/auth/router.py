from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, status

from energy_api.auth import service
from energy_api.auth.dependencies import TOKEN_FORM_URL, Admin, SettingsDep, Viewer
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

router = APIRouter(prefix="/api/token", tags=["auth"])
users_router = APIRouter(prefix="/api/v1/usuarios", tags=["usuarios"])


@router.post(
    "/",
    name="token",
    summary="Log in",
    response_model=TokenPair,
    responses=problem_responses(401, 422),
)
async def obtain_token(body: TokenRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Log in: an access token for the API and a refresh token to renew it."""
    return await service.authenticate(session, settings, body.username, body.password)


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
    """Exchange a refresh token for a new access token and a new refresh token."""
    return await service.refresh(session, settings, body.refresh)


@router.post(
    TOKEN_FORM_URL.removeprefix("/api/token"),
    name="token-form",
    summary="Log in (OAuth2 form, for /docs)",
    response_model=OAuth2Token,
    responses=problem_responses(401, 422),
)
async def obtain_token_form(
    username: Annotated[str, Form(min_length=1, max_length=150)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    session: SessionDep,
    settings: SettingsDep,
) -> OAuth2Token:
    """OAuth2 password flow (form-encoded), used by the Authorize dialog of /docs."""
    pair = await service.authenticate(session, settings, username.strip(), password)
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
