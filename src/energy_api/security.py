"""JWT (HS256, pinned) and password hashing (argon2, off the event loop)."""

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

# New hashes are argon2; Django's pbkdf2 hashes (users imported from the old system) still
# verify and are re-hashed to argon2 on the next successful login.
pwd_context = CryptContext(
    schemes=["argon2", "django_pbkdf2_sha256"], deprecated=["django_pbkdf2_sha256"]
)
# Verified against when the username is unknown, so the reply takes as long as a real check.
_TIMING_HASH = "$argon2id$v=19$m=65536,t=3,p=4$MqZ07l1rzfn/X8tZKyVEyA$05z4DdgPZ5rfQKYlhkMfGFLMeb1v3nAuwSYoHkwEHEg"  # noqa: E501


class TokenType(enum.StrEnum):
    access = "access"
    refresh = "refresh"


class InvalidToken(Exception):
    """The token is malformed, badly signed, expired or of the wrong type."""


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(pwd_context.hash, password)


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one should be upgraded); constant work when no hash."""
    if password_hash is None:
        await anyio.to_thread.run_sync(pwd_context.verify, password, _TIMING_HASH)
        return False, None
    return await anyio.to_thread.run_sync(pwd_context.verify_and_update, password, password_hash)


def encode_token(
    settings: Settings,
    *,
    subject: str,
    token_type: TokenType,
    ttl: timedelta,
    now: datetime | None = None,
    jti: str | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "type": token_type.value,
        "iat": issued,
        "exp": issued + ttl,
        "jti": jti or uuid.uuid4().hex,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(claims, settings.jwt_key, algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str, *, expected_type: TokenType) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("type") != expected_type.value:
        raise InvalidToken(f"expected a {expected_type.value} token")
    if not isinstance(claims.get("sub"), str):
        raise InvalidToken("invalid subject")
    return claims
