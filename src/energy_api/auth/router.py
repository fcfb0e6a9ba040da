from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Response, status
from starlette.exceptions import HTTPException as StarletteHTTPException

from energy_api.auth import service
from energy_api.auth.dependencies import (
    TOKEN_FORM_URL,
    Admin,
    ClientAddress,
    SettingsDep,
    Viewer,
    no_store,
)
from energy_api.auth.models import Role
from energy_api.auth.schemas import (
    OAuth2Token,
    PasswordChange,
    RefreshRequest,
    TokenPair,
    TokenRequest,
    UserCreate,
    UserDetail,
    UserPage,
    UserRead,
    UserUpdate,
)
from energy_api.auth.service import UserChanges
from energy_api.db import SessionDep
from energy_api.errors import problem_responses
from energy_api.http.routing import TransactionRoute
from energy_api.schemas import IdPath, Limit, Offset

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


@users_router.api_route("/me/", methods=["PATCH", "DELETE"], include_in_schema=False)
async def me_other_methods() -> None:
    """`/me/` is read-only: 405, not the 422 `/{id}/` would answer for "me" as an id."""
    raise StarletteHTTPException(status.HTTP_405_METHOD_NOT_ALLOWED, "Method Not Allowed")


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


@users_router.post(
    "/me/senha/",
    name="change-password",
    summary="Change my password",
    response_model=TokenPair,
    dependencies=[Depends(no_store)],
    responses=_login_responses() | problem_responses(401, 422, 429),
)
async def change_password(
    body: PasswordChange,
    session: SessionDep,
    settings: SettingsDep,
    address: ClientAddress,
    user: Viewer,
) -> TokenPair:
    """Change the caller's own password; `senha_atual` must be the current one.

    Every other login of the caller ends: their refresh tokens are revoked and their access
    tokens refused from the next request. The answer is a new token pair for this login (the
    access token used for this request stops working too). A wrong `senha_atual` is a 422 and
    counts as a failed login: after 5 within 15 minutes the route answers 429.
    """
    return await service.change_own_password(
        session, settings, user, body.senha_atual, body.nova_senha, address
    )


@users_router.get(
    "/",
    name="list",
    summary="List users",
    response_model=UserPage,
    responses=problem_responses(401, 403, 422),
)
async def list_users(
    session: SessionDep,
    _: Admin,
    busca: Annotated[
        str | None, Query(max_length=150, description="Case-insensitive substring of username")
    ] = None,
    role: Annotated[Role | None, Query(description="Only users with this role")] = None,
    ativo: Annotated[bool | None, Query(description="Only active (or inactive) users")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> UserPage:
    """Users in id order (admin only)."""
    items, total = await service.list_users(
        session, search=busca, role=role, active=ativo, limit=limit, offset=offset
    )
    return UserPage(
        items=[UserDetail.from_model(u) for u in items], total=total, limit=limit, offset=offset
    )


@users_router.get(
    "/{id}/",
    name="get",
    summary="Get a user",
    response_model=UserDetail,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_user(user_id: IdPath, session: SessionDep, _: Admin) -> UserDetail:
    return UserDetail.from_model(await service.get_user(session, user_id))


@users_router.patch(
    "/{id}/",
    name="update",
    summary="Change a user's role, state or password",
    response_model=UserDetail,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_user(
    user_id: IdPath, body: UserUpdate, session: SessionDep, _: Admin
) -> UserDetail:
    """Admin only. `password` resets the password and ends every login of the user;
    `ativo: false` ends them too. The last active admin cannot be demoted or deactivated (409).
    """
    changes = UserChanges(role=body.role, active=body.ativo, password=body.password)
    return UserDetail.from_model(await service.update_user(session, user_id, changes))


@users_router.delete(
    "/{id}/",
    name="delete",
    summary="Delete a user",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def delete_user(user_id: IdPath, session: SessionDep, _: Admin) -> Response:
    """Admin only; never the last active admin (409)."""
    await service.delete_user(session, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
