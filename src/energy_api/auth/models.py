from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from energy_api.db import Base, UtcDateTime


class Role(enum.StrEnum):
    """Ordered roles: each one can do what the ones before it can."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {role: rank for rank, role in enumerate(Role)}  # checked on every request


class User(Base):
    __tablename__ = "users"
    # INSERT … RETURNING brings back server defaults (created_at): no lazy load later.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="role_valid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Raised by a password change or reset: tokens and admin sessions of older versions end.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class RefreshToken(Base):
    """One issued refresh token. A login starts a family; each refresh retires one token
    (`used_at`) and adds the next to the same family. Presenting a retired token again revokes
    the whole family (`revoked_at`). Rows are deleted once expired."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        # Serves the per-user clean-up of expired rows and ON DELETE CASCADE from users.
        Index("ix_refresh_tokens_user_id_expires_at", "user_id", "expires_at"),
    )

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class LoginAttempt(Base):
    """A failed login, counted per username and per client address for throttling."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
