"""JWT (HS256, pinned) and password hashing (argon2, off the event loop).

Token checks follow RFC 8725: the algorithm is pinned on decode (the token's own `alg` header
never chooses the verification), every claim we rely on is required, `iss` and `aud` must be
ours, and clocks may disagree by at most `LEEWAY_SECONDS`.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import jwt
from passlib.context import CryptContext

from energy_api.config import Settings

ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ("sub", "exp", "iat", "jti", "iss", "aud", "type")
VERSION_CLAIM = "ver"

# New hashes are argon2; Django's pbkdf2 hashes (users imported from the old system) still
# verify and are re-hashed to argon2 on the next successful login.
pwd_context = CryptContext(
    schemes=["argon2", "django_pbkdf2_sha256"], deprecated=["django_pbkdf2_sha256"]
)


class TokenType(enum.StrEnum):
    access = "access"
    refresh = "refresh"


class InvalidToken(Exception):
    """The token is malformed, badly signed, expired or of the wrong type."""


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(pwd_context.hash, password)


def _verify(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    context = pwd_context
    if password_hash is None:
        # Unknown user: verify against a hash made with the current argon2 settings, so the
        # reply costs what a real check costs. The result is ignored.
        context.dummy_verify()
        return False, None
    ok, new_hash = context.verify_and_update(password, password_hash)
    return bool(ok), new_hash


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one should be upgraded), computed in a worker thread.

    With no hash (unknown user) one dummy verification still runs, and the answer is False.
    """
    return await anyio.to_thread.run_sync(_verify, password, password_hash)


def token_version(claims: dict[str, Any]) -> int:
    """The token version a decoded token was issued for (0 when it names none)."""
    version: int = claims.get(VERSION_CLAIM, 0)
    return version


def new_token_id() -> str:
    return uuid.uuid4().hex


def encode_token(
    settings: Settings,
    *,
    subject: str,
    token_type: TokenType,
    ttl: timedelta,
    now: datetime | None = None,
    jti: str | None = None,
    version: int | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "type": token_type.value,
        "iat": issued,
        "exp": issued + ttl,
        "jti": jti or new_token_id(),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    if version:
        # The user's token version (`users.token_version`); absent means 0.
        claims[VERSION_CLAIM] = version
    return jwt.encode(claims, settings.jwt_key, algorithm=ALGORITHM)


def decode_token(
    settings: Settings, token: str, *, expected_type: TokenType, verify_exp: bool = True
) -> dict[str, Any]:
    """The claims of a valid token of `expected_type`, else `InvalidToken`.

    `verify_exp=False` is only for revocation, where presenting an expired (but genuine)
    token of a login is still enough to end that login.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS), "verify_exp": verify_exp},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("type") != expected_type.value:
        raise InvalidToken(f"expected a {expected_type.value} token")
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("jti"), str):
        raise InvalidToken("invalid subject or token id")
    version = claims.get(VERSION_CLAIM, 0)
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**31:
        raise InvalidToken("invalid token version")
    return claims
