"""Login, throttling, token issue, refresh rotation, revocation, and the user behind a token.

Refresh tokens rotate (RFC 9700 §4.14.2): every refresh retires the presented token and issues
the next one of the same family (one family per login). A retired token presented again means
two parties hold the family, so the whole family is revoked and both must log in again. Two
concurrent uses of one token count as a reuse too (the retiring UPDATE is conditional, so
exactly one of them wins): clients must serialise their refreshes.
Families expire by inactivity: each new refresh token lives `REFRESH_TOKEN_DAYS`.

Access tokens stay stateless (one indexed user lookup per request): they end with the user's
deactivation at once, and with a logout or a revoked family when they expire
(`ACCESS_TOKEN_MINUTES`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth import passwords, repository
from energy_api.auth.models import Role, User
from energy_api.auth.principals import Principal, PrincipalCache
from energy_api.auth.schemas import USERNAME_MAX_LENGTH, USERNAME_PATTERN, TokenPair
from energy_api.auth.tokens import VerifiedTokens
from energy_api.config import Settings
from energy_api.db import KeepsWork, Reader
from energy_api.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from energy_api.observability.metrics import LOGIN_FAILURES, LOGIN_THROTTLED
from energy_api.security import (
    LEEWAY_SECONDS,
    InvalidToken,
    TokenType,
    decode_token,
    encode_token,
    hash_password,
    new_token_id,
    pwd_context,
    token_version,
    verify_password,
)

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "Invalid username or password"
BAD_TOKEN = "Invalid or expired token"

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USERNAME = 5
MAX_FAILURES_PER_ADDRESS = 20
ADDRESS_MAX_LENGTH = 64


class RecordedUnauthorized(Unauthorized, KeepsWork):
    """A 401 whose writes are part of the decision (a failed login counted, a token family
    revoked): the request boundary commits them before the error is sent."""


class LoginThrottled(AppError):
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed login attempts; retry in {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
        )


def _now() -> datetime:
    return datetime.now(UTC)


async def _issue_tokens(
    session: AsyncSession, settings: Settings, user: User, *, family_id: str, now: datetime
) -> TokenPair:
    """A new access token and the next refresh token of `family_id`, recorded server-side.

    Expired refresh rows of the same user are deleted on the way (their tokens cannot be
    used any more, so reuse detection loses nothing)."""
    access_ttl = timedelta(minutes=settings.access_token_minutes)
    refresh_ttl = timedelta(days=settings.refresh_token_days)
    subject = str(user.id)
    refresh_id = new_token_id()
    await repository.delete_expired_refresh_tokens(
        session, now - timedelta(seconds=LEEWAY_SECONDS), user_id=user.id
    )
    await repository.add_refresh_token(
        session, jti=refresh_id, user_id=user.id, family_id=family_id, expires_at=now + refresh_ttl
    )
    return TokenPair(
        access=encode_token(
            settings,
            subject=subject,
            token_type=TokenType.access,
            ttl=access_ttl,
            now=now,
            version=user.token_version,
        ),
        refresh=encode_token(
            settings,
            subject=subject,
            token_type=TokenType.refresh,
            ttl=refresh_ttl,
            now=now,
            jti=refresh_id,
            version=user.token_version,
        ),
        expires_in=int(access_ttl.total_seconds()),
    )


def _retry_after(count: int, oldest: datetime | None, limit: int, now: datetime) -> int | None:
    """Seconds until the oldest counted failure leaves the window, when at the limit."""
    if count < limit or oldest is None:
        return None
    return max(1, math.ceil((oldest + THROTTLE_WINDOW - now).total_seconds()))


async def _check_throttle(
    session: AsyncSession, username: str, address: str, now: datetime
) -> None:
    since = now - THROTTLE_WINDOW
    waits = [
        _retry_after(
            *await repository.failed_logins_since(session, since, username=username),
            MAX_FAILURES_PER_USERNAME,
            now,
        ),
        _retry_after(
            *await repository.failed_logins_since(session, since, address=address),
            MAX_FAILURES_PER_ADDRESS,
            now,
        ),
    ]
    longest = max((wait for wait in waits if wait is not None), default=None)
    if longest is not None:
        logger.info("login throttled for %r from %s (%d s)", username, address, longest)
        LOGIN_THROTTLED.inc()
        raise LoginThrottled(longest)


async def authenticate(
    session: AsyncSession, settings: Settings, username: str, password: str, address: str
) -> TokenPair:
    """Tokens for valid credentials of an active user, starting a new refresh family.

    Every failure is one 401 with one body: unknown users still cost one password
    verification (a dummy hash), and inactive users' passwords are still verified. Failures
    are recorded for throttling: after `MAX_FAILURES_PER_USERNAME` failures for a username or
    `MAX_FAILURES_PER_ADDRESS` from an address within `THROTTLE_WINDOW`, logins answer 429
    until the oldest failure leaves the window; attempts refused with 429 are not counted, and
    a success clears the username's failures. Concurrent attempts may each pass the check
    before any is recorded, so a burst can exceed the limit by its own size, once.
    """
    user = await check_credentials(session, username, password, address)
    return await _issue_tokens(session, settings, user, family_id=new_token_id(), now=_now())


async def _record_failure(
    session: AsyncSession, username: str, address: str, now: datetime
) -> None:
    await repository.delete_failed_logins_before(
        session, now - THROTTLE_WINDOW, username=username, address=address
    )
    await repository.add_failed_login(session, username=username, address=address, at=now)


async def check_credentials(
    session: AsyncSession, username: str, password: str, address: str
) -> User:
    """The active user these credentials belong to, under the login throttle (see
    `authenticate`, which issues tokens for it; the admin's login opens a session instead)."""
    now = _now()
    address = address[:ADDRESS_MAX_LENGTH]
    await _check_throttle(session, username, address, now)
    user = await repository.get_by_username(session, username)
    ok, new_hash = await verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        await _record_failure(session, username, address, now)
        LOGIN_FAILURES.inc()
        raise RecordedUnauthorized(BAD_CREDENTIALS)
    await repository.delete_failed_logins(session, username)
    if new_hash is not None:
        await repository.set_password_hash(session, user.id, new_hash)
    return user


def _user_id(subject: str) -> int:
    """The user id in a token's subject; our ids are positive 32-bit integers."""
    try:
        user_id = int(subject)
    except ValueError:
        raise Unauthorized(BAD_TOKEN) from None
    if not 0 < user_id < 2**31:
        raise Unauthorized(BAD_TOKEN)
    return user_id


async def _active_user(session: AsyncSession, subject: str) -> User:
    user = await repository.get_by_id(session, _user_id(subject))
    if user is None or not user.is_active:
        raise Unauthorized(BAD_TOKEN)
    return user


async def refresh(session: AsyncSession, settings: Settings, token: str) -> TokenPair:
    """Rotate: retire the presented refresh token and issue the next one of its family.

    A token that is unknown, revoked or already retired is refused; a retired one also
    revokes its whole family (reuse means the token was copied), and that revocation is kept
    although the answer is 401.
    """
    try:
        claims = decode_token(settings, token, expected_type=TokenType.refresh)
    except InvalidToken:
        raise Unauthorized(BAD_TOKEN) from None
    now = _now()
    retired = await repository.retire_refresh_token(session, claims["jti"], now)
    if retired is None:
        if revoked := await repository.revoke_family_of(session, claims["jti"], now):
            logger.warning(
                "refresh token reuse for user %s: family revoked (%d tokens)",
                claims["sub"],
                revoked,
            )
        raise RecordedUnauthorized(BAD_TOKEN)
    user_id, family_id = retired
    user = await _active_user(session, claims["sub"])
    if user.id != user_id or token_version(claims) != user.token_version:
        raise Unauthorized(BAD_TOKEN)
    return await _issue_tokens(session, settings, user, family_id=family_id, now=now)


async def revoke(session: AsyncSession, settings: Settings, token: str) -> None:
    """Log out: revoke every refresh token of the presented token's family.

    As RFC 7009 §2.2 prescribes, an invalid, expired, unknown or already revoked token is not
    an error: the caller wants the token unusable and it is, and the answer must not tell a
    token-holder's adversary which tokens are genuine. Only a genuine refresh token (our
    signature, issuer, audience and type) revokes anything; it may have expired.
    """
    try:
        claims = decode_token(settings, token, expected_type=TokenType.refresh, verify_exp=False)
    except InvalidToken:
        return
    await repository.revoke_family_of(session, claims["jti"], _now())


def _verified_token(settings: Settings, tokens: VerifiedTokens, token: str) -> tuple[int, int]:
    """The (user id, token version) a genuine, unexpired access token names (`Unauthorized`
    otherwise), verified once per token and process (`auth.tokens`)."""
    if (known := tokens.lookup(token)) is not None:
        return known
    try:
        claims = decode_token(settings, token, expected_type=TokenType.access)
    except InvalidToken:
        raise Unauthorized(BAD_TOKEN) from None
    user_id, version = _user_id(claims["sub"]), token_version(claims)
    tokens.remember(token, user_id, version, float(claims["exp"]))
    return user_id, version


async def principal_from_access_token(
    reader: Reader,
    settings: Settings,
    principals: PrincipalCache,
    tokens: VerifiedTokens,
    token: str,
) -> Principal:
    """The active user a valid access token speaks for, else `Unauthorized`.

    The token's signature and claims are checked once per process (`tokens`); the user is
    answered from `principals` when it holds them (it forgets a user as soon as the database
    notifies a change), else looked up and remembered.
    """
    user_id, version = _verified_token(settings, tokens, token)
    principal = principals.get(user_id)
    if principal is None:
        generation = principals.generation
        principal = await repository.get_active_principal(reader, user_id)
        if principal is None:
            raise Unauthorized(BAD_TOKEN)
        principals.put(principal, generation)
    if principal.token_version != version:
        # Issued before a password change or reset: that login has ended.
        raise Unauthorized(BAD_TOKEN)
    return principal


def ensure_role(principal: Principal, required: Role) -> None:
    if principal.role.rank < required.rank:
        raise Forbidden(f"Requires the {required.value} role")


def check_new_password(password: str, username: str, *, field: str = "password") -> None:
    """422 naming `field` when `password` breaks the policy (`energy_api.auth.passwords`)."""
    if found := passwords.problems(password, username):
        raise InvalidInput(field, "; ".join(found))


async def create_user(session: AsyncSession, username: str, password: str, role: Role) -> User:
    if not re.fullmatch(USERNAME_PATTERN, username) or len(username) > USERNAME_MAX_LENGTH:
        raise InvalidInput(
            "username", "use 1-150 letters, digits and the characters _ . @ + - only"
        )
    check_new_password(password, username)
    password_hash = await hash_password(password)
    try:
        return await repository.add(
            session, username=username, password_hash=password_hash, role=role.value
        )
    except repository.DuplicateUsername:
        raise Conflict(f"Username {username!r} already exists") from None


class ImportRefused(Exception):
    """A user of another system that cannot be brought over as it is; the message says why."""


async def import_user(
    session: AsyncSession, *, username: str, password_hash: str, role: Role, active: bool
) -> bool:
    """Bring over a user of the Django system with its password hash as stored there (PBKDF2,
    re-hashed to argon2 on the next successful login); False when the username exists here.
    Raises `ImportRefused` for a username this service does not allow, or a hash it cannot
    verify (Django's unusable passwords, other hashers)."""
    if not re.fullmatch(USERNAME_PATTERN, username) or len(username) > USERNAME_MAX_LENGTH:
        raise ImportRefused("username: use 1-150 letters, digits and _ . @ + - only")
    if not is_importable_hash(password_hash):
        kind = (
            f"a {password_hash.split('$', 1)[0]!r} hash"
            if "$" in password_hash
            else "an unusable password"
        )
        raise ImportRefused(f"password: {kind}, not pbkdf2_sha256; set a new one")
    if await repository.get_by_username(session, username) is not None:
        return False
    await repository.add(
        session, username=username, password_hash=password_hash, role=role.value, active=active
    )
    return True


def is_importable_hash(password_hash: str) -> bool:
    """Whether the service can verify this Django hash (its `pbkdf2_sha256$…` format)."""
    try:
        return bool(pwd_context.identify(password_hash) == "django_pbkdf2_sha256")
    except ValueError:
        return False


async def set_active(session: AsyncSession, username: str, *, active: bool) -> bool:
    """Activate or deactivate a user from the command line; False when there is no such user.

    Deactivation also revokes the user's refresh tokens, so reactivating later does not bring
    old logins back. Its access tokens fail on their next use: each process forgets the user as
    soon as the database notifies the change (`energy_api.auth.principals`). Unlike the API and
    the admin (`update_user`), the command line may deactivate the last active admin: whoever
    runs it can also create one (`energy-api create-user`).
    """
    user_id = await repository.set_active(session, username, active=active)
    if user_id is None:
        return False
    if not active:
        await repository.revoke_user_refresh_tokens(session, user_id, _now())
    return True


# Accounts: what admins change, and what each user changes of their own.

LAST_ADMIN = "At least one active admin must remain"


class LastAdmin(Conflict):
    def __init__(self) -> None:
        super().__init__(LAST_ADMIN)


class WrongCurrentPassword(InvalidInput, KeepsWork):
    """The current password did not match; the failure counts for the login throttle, so the
    request boundary commits it before the 422 is sent."""

    def __init__(self) -> None:
        super().__init__("senha_atual", "does not match the current password")


@dataclass(frozen=True, slots=True)
class UserChanges:
    """The fields to change; None leaves a field as it is. A password is a reset: it also ends
    every login of the user (their refresh tokens are revoked, their access tokens refused)."""

    role: Role | None = None
    active: bool | None = None
    password: str | None = None


def _user_not_found(user_id: int) -> NotFound:
    return NotFound(f"User {user_id} not found")


async def list_users(
    session: AsyncSession,
    *,
    search: str | None,
    role: Role | None,
    active: bool | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[User], int]:
    return await repository.list_page(
        session, search=search, role=role, active=active, limit=limit, offset=offset
    )


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await repository.get_by_id(session, user_id)
    if user is None:
        raise _user_not_found(user_id)
    return user


def _is_active_admin(user: User) -> bool:
    return user.is_active and user.role == Role.admin.value


async def _lock_keeping_an_admin(
    session: AsyncSession, user_id: int, *, removes_admin: bool
) -> User:
    """The user, locked; when the change `removes_admin` rights from an active admin, refused
    unless another active admin remains.

    Locks: every active admin's row first (ascending id), then the user's. Two admins demoting
    each other at once queue on the first lock, and the second sees the first's change."""
    others: list[int] | None = None
    if removes_admin:
        others = await repository.lock_active_admins(session)
    user = await repository.get_locked(session, user_id)
    if user is None:
        raise _user_not_found(user_id)
    if others is not None and _is_active_admin(user) and not set(others) - {user.id}:
        raise LastAdmin()
    return user


async def update_user(session: AsyncSession, user_id: int, changes: UserChanges) -> User:
    """Change a user's role, state or password (admin only, at the router)."""
    removes_admin = (changes.role is not None and changes.role != Role.admin) or (
        changes.active is False
    )
    user = await _lock_keeping_an_admin(session, user_id, removes_admin=removes_admin)
    password_hash = None
    if changes.password is not None:
        check_new_password(changes.password, user.username)
        password_hash = await hash_password(changes.password)
    await repository.update_fields(
        session,
        user,
        role=changes.role,
        active=changes.active,
        password_hash=password_hash,
        bump_version=password_hash is not None,
    )
    if password_hash is not None or changes.active is False:
        await repository.revoke_user_refresh_tokens(session, user.id, _now())
    return user


async def delete_user(session: AsyncSession, user_id: int) -> None:
    """Delete a user and their refresh tokens; never the last active admin."""
    await _lock_keeping_an_admin(session, user_id, removes_admin=True)
    await repository.delete_by_id(session, user_id)


async def change_own_password(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    current: str,
    new: str,
    address: str,
) -> TokenPair:
    """Change the caller's password, given the current one; every other login ends.

    A wrong current password counts as a failed login for the throttle (so a stolen access
    token cannot be used to guess the password), and a throttled caller gets 429. On success
    the token version is raised and every refresh token revoked: the caller's other logins end
    (access tokens at their next use), and the answer is a new token pair for this one.
    """
    now = _now()
    address = address[:ADDRESS_MAX_LENGTH]
    await _check_throttle(session, principal.username, address, now)
    user = await repository.get_locked(session, principal.id)
    if user is None or not user.is_active:
        raise Unauthorized(BAD_TOKEN)
    ok, _ = await verify_password(current, user.password_hash)
    if not ok:
        await _record_failure(session, user.username, address, now)
        raise WrongCurrentPassword()
    check_new_password(new, user.username, field="nova_senha")
    if new == current:
        raise InvalidInput("nova_senha", "must differ from the current password")
    await repository.update_fields(
        session, user, password_hash=await hash_password(new), bump_version=True
    )
    await repository.revoke_user_refresh_tokens(session, user.id, now)
    await repository.delete_failed_logins(session, user.username)
    return await _issue_tokens(session, settings, user, family_id=new_token_id(), now=now)


async def session_principal(session: AsyncSession, user_id: int, version: int) -> Principal | None:
    """The active user a browser session (the admin's) speaks for, if its token version is
    still the user's: a password change or reset ends the session, and so does deactivation."""
    user = await repository.get_by_id(session, user_id)
    if user is None or not user.is_active or user.token_version != version:
        return None
    return Principal(
        id=user.id, username=user.username, role=Role(user.role), token_version=version
    )


async def prune(session: AsyncSession) -> tuple[int, int]:
    """Delete expired refresh tokens and failed logins older than the throttling window."""
    now = _now()
    tokens = await repository.delete_expired_refresh_tokens(
        session, now - timedelta(seconds=LEEWAY_SECONDS)
    )
    attempts = await repository.delete_failed_logins_before(session, now - THROTTLE_WINDOW)
    return tokens, attempts
