"""Service configuration: one Settings object, read from the environment and `.env`."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./energy.db"
DEV_SECRET_FILE = Path(".secret_key")
MIN_SECRET_BYTES = 32
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "your-secret-key",
        "django-insecure",
        "insecure",
        "development",
    }
)


class ConfigError(Exception):
    """Raised with one line naming the offending variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Literal["development", "production", "test"] = "development"

    database_url: str | None = None
    db_name: str | None = None
    db_user: str = "postgres"
    db_password: SecretStr = SecretStr("")
    db_host: str = "127.0.0.1"
    db_port: int = Field(default=5432, ge=1, le=65535)
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    db_pool_timeout: float = Field(default=3.0, gt=0, le=60)
    db_connect_timeout: float = Field(default=3.0, gt=0, le=60)
    db_statement_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    # `transaction`: a transaction pooler (PgBouncer pool_mode=transaction) is in front of
    # DATABASE_URL, so no server-side prepared statement or session setting may outlive a
    # transaction, and LISTEN needs DATABASE_DIRECT_URL.
    database_pooler: Literal["none", "transaction"] = "none"
    # A URL straight to PostgreSQL (not through the pooler), for the user-change listener.
    database_direct_url: str | None = None
    # A streaming replica for analytics and list reads; unset, they go to DATABASE_URL.
    database_read_url: str | None = None

    # Logs on stdout: one JSON object per line, or readable text for a terminal.
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One line per request (`energy-api serve --no-access-log` turns it off).
    log_requests: bool = True
    # Prometheus metrics on their own port (not the API's), served by `energy-api serve`;
    # 0 turns them off.
    metrics_port: int = Field(default=9100, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    secret_key: SecretStr | None = None
    jwt_issuer: str = "energy-api"
    jwt_audience: str = "energy-api"
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=1, ge=1, le=90)

    admin_password: SecretStr | None = None

    document_validation: Literal["strict", "lenient"] = "strict"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Requests whose body is larger are refused with 413 before the body is read.
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # The bulk load route alone (POST /api/v1/consumos/lote/) accepts bodies up to this size.
    bulk_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    # Its statements (and those of the imports) may run this long; 0: no limit.
    bulk_statement_timeout_ms: int = Field(default=300_000, ge=0, le=3_600_000)
    # On SIGTERM, in-flight requests get this long to finish before the server closes them.
    shutdown_grace_seconds: int = Field(default=10, ge=0, le=600)
    # Proxies whose X-Forwarded-For/-Proto are believed (the client address feeds the login
    # throttle); "*" trusts any, which is right only behind a proxy that overwrites them.
    forwarded_allow_ips: str = "127.0.0.1"

    # The back office in the browser (/admin): how long a login lasts without activity.
    admin_session_hours: int = Field(default=8, ge=1, le=7 * 24)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", "database_pooler", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        if self.environment != "production":
            return self
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if not key:
            raise ValueError("SECRET_KEY must be set when ENVIRONMENT=production")
        if key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("SECRET_KEY is a known placeholder; generate a random one")
        if len(key.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes in production")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL, else one built from DB_*, else the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        if self.db_name:
            return URL.create(
                "postgresql+asyncpg",
                username=self.db_user,
                password=self.db_password.get_secret_value() or None,
                host=self.db_host,
                port=self.db_port,
                database=self.db_name,
            ).render_as_string(hide_password=False)
        return DEFAULT_DATABASE_URL

    @property
    def jwt_key(self) -> str:
        """The HS256 key (set by `load_settings` in development when SECRET_KEY is unset)."""
        if self.secret_key is None:
            raise ConfigError("invalid configuration: SECRET_KEY is not set")
        return self.secret_key.get_secret_value()


def _dev_secret(path: Path) -> str:
    """Read the development key, creating it atomically once so every worker shares it."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def load_settings() -> Settings:
    """Build Settings, turning a validation failure into one line naming the variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        name = "_".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(
            f"invalid configuration: {name + ': ' if name else ''}{message}"
        ) from None
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        # Development only (production refuses this above): one random key per checkout.
        key = SecretStr(_dev_secret(DEV_SECRET_FILE))
        settings = settings.model_copy(update={"secret_key": key})
    return settings


@lru_cache
def get_settings() -> Settings:
    return load_settings()
