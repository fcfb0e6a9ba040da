"""Login, token issue and refresh, and the user behind an access token."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth import repository
from energy_api.auth.models import Role, User
from energy_api.auth.schemas import TokenPair
from energy_api.config import Settings
from energy_api.errors import Conflict, Forbidden, Unauthorized
from energy_api.security import (
    InvalidToken,
    TokenType,
    decode_token,
    encode_token,
    hash_password,
    verify_password,
)

BAD_CREDENTIALS = "Invalid username or password"
BAD_TOKEN = "Invalid or expired token"


def issue_tokens(settings: Settings, user: User) -> TokenPair:
    access_ttl = timedelta(minutes=settings.access_token_minutes)
    subject = str(user.id)
    return TokenPair(
        access=encode_token(settings, subject=subject, token_type=TokenType.access, ttl=access_ttl),
        refresh=encode_token(
            settings,
            subject=subject,
            token_type=TokenType.refresh,
            ttl=timedelta(days=settings.refresh_token_days),
        ),
        expires_in=int(access_ttl.total_seconds()),
    )


async def authenticate(
    session: AsyncSession, settings: Settings, username: str, password: str
) -> TokenPair:
    """Tokens for valid credentials of an active user; one 401 for every failure.

    Unknown users are checked against a dummy hash and inactive users' passwords are still
    verified, so the three failures take the same time.
    """
    user = await repository.get_by_username(session, username)
    ok, new_hash = await verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        raise Unauthorized(BAD_CREDENTIALS)
    if new_hash is not None:
        await repository.set_password_hash(session, user.id, new_hash)
    return issue_tokens(settings, user)


async def _active_user(session: AsyncSession, subject: str) -> User:
    try:
        user_id = int(subject)
    except ValueError:
        raise Unauthorized(BAD_TOKEN) from None
    user = await repository.get_by_id(session, user_id) if 0 < user_id < 2**31 else None
    if user is None or not user.is_active:
        raise Unauthorized(BAD_TOKEN)
    return user


async def refresh(session: AsyncSession, settings: Settings, token: str) -> TokenPair:
    try:
        claims = decode_token(settings, token, expected_type=TokenType.refresh)
    except InvalidToken:
        raise Unauthorized(BAD_TOKEN) from None
    user = await _active_user(session, claims["sub"])
    return issue_tokens(settings, user)


async def user_from_access_token(session: AsyncSession, settings: Settings, token: str) -> User:
    try:
        claims = decode_token(settings, token, expected_type=TokenType.access)
    except InvalidToken:
        raise Unauthorized(BAD_TOKEN) from None
    return await _active_user(session, claims["sub"])


def ensure_role(user: User, required: Role) -> None:
    if Role(user.role).rank < required.rank:
        raise Forbidden(f"Requires the {required.value} role")


async def create_user(session: AsyncSession, username: str, password: str, role: Role) -> User:
    password_hash = await hash_password(password)
    try:
        return await repository.add(
            session, username=username, password_hash=password_hash, role=role.value
        )
    except repository.DuplicateUsername:
        raise Conflict(f"Username {username!r} already exists") from None
