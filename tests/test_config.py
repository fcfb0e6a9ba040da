"""Configuration from the environment: database URL, secret key rules, one-line errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from energy_api.config import ConfigError, Settings, load_settings

STRONG_SECRET = "k" * 32


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting from the real environment, and no real `.env` or `.secret_key`."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- database URL ----------------------------------------------------------------------------


def test_database_url_wins_over_db_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://a:b@example:5433/chosen")
    monkeypatch.setenv("DB_NAME", "ignored")
    assert load_settings().sqlalchemy_url == "postgresql+asyncpg://a:b@example:5433/chosen"


def test_database_url_is_built_from_db_variables_when_db_name_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "DB_NAME": "energy",
        "DB_USER": "app",
        "DB_PASSWORD": "p@ss:word",
        "DB_HOST": "db.internal",
        "DB_PORT": "6543",
    }.items():
        monkeypatch.setenv(name, value)
    assert (
        load_settings().sqlalchemy_url
        == "postgresql+asyncpg://app:p%40ss%3Aword@db.internal:6543/energy"
    )


def test_db_variables_without_db_name_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "db.internal")
    assert load_settings().sqlalchemy_url == "sqlite+aiosqlite:///./energy.db"


def test_database_defaults_to_the_embedded_sqlite_file() -> None:
    assert load_settings().sqlalchemy_url == "sqlite+aiosqlite:///./energy.db"


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("DATABASE_URL=sqlite+aiosqlite:///./from-env.db\n")
    assert load_settings().sqlalchemy_url == "sqlite+aiosqlite:///./from-env.db"


# --- SECRET_KEY ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [
        None,  # unset
        "",  # empty
        "k" * 31,  # one byte short
        "changeme",  # known placeholder
        "CHANGEME",
    ],
)
def test_production_refuses_a_weak_secret_key_naming_it(
    monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    if secret is not None:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "SECRET_KEY" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_production_names_a_placeholder_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "change-me")
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings()


def test_production_counts_bytes_not_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "é" * 16)  # 16 characters, 32 bytes in UTF-8
    assert load_settings().jwt_key == "é" * 16


def test_production_accepts_a_32_byte_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    assert load_settings().jwt_key == STRONG_SECRET


def test_production_never_writes_a_secret_file(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ConfigError):
        load_settings()
    assert not (clean_environment / ".secret_key").exists()


def test_development_without_secret_key_writes_a_random_key_file(
    clean_environment: Path,
) -> None:
    key = load_settings().jwt_key
    path = clean_environment / ".secret_key"
    assert path.read_text().strip() == key
    assert len(key.encode()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_development_reuses_the_key_file(clean_environment: Path) -> None:
    first = load_settings().jwt_key
    second = load_settings().jwt_key
    assert first == second


def test_development_keys_differ_between_checkouts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = load_settings().jwt_key
    other = tmp_path / "other-checkout"
    other.mkdir()
    monkeypatch.chdir(other)
    assert load_settings().jwt_key != first


def test_development_uses_secret_key_when_set(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    monkeypatch.setenv("SECRET_KEY", "short-is-fine-in-development")
    assert load_settings().jwt_key == "short-is-fine-in-development"
    assert not (clean_environment / ".secret_key").exists()


# --- other settings --------------------------------------------------------------------------


def test_defaults() -> None:
    settings = load_settings()
    assert (
        settings.access_token_minutes,
        settings.refresh_token_days,
        settings.document_validation,
        settings.cors_origins,
    ) == (30, 1, "strict", [])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCESS_TOKEN_MINUTES", "abc"),
        ("REFRESH_TOKEN_DAYS", "0"),
        ("DOCUMENT_VALIDATION", "loose"),
        ("DB_PORT", "99999"),
        ("ENVIRONMENT", "staging"),
    ],
)
def test_bad_value_fails_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert name in message
    assert "\n" not in message


def test_cors_origins_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert load_settings().cors_origins == ["https://a.example", "https://b.example"]


def test_cors_origins_empty_is_an_empty_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "")
    assert load_settings().cors_origins == []


def test_document_validation_can_be_lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCUMENT_VALIDATION", "lenient")
    assert load_settings().document_validation == "lenient"


# --- operations ------------------------------------------------------------------------------


def test_log_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_settings()
    monkeypatch.setenv("LOG_FORMAT", "Console")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert (settings.log_format, settings.log_level) == ("console", "DEBUG")


def test_database_pooler_is_none_or_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().database_pooler == "none"
    monkeypatch.setenv("DATABASE_POOLER", "session")
    with pytest.raises(ConfigError, match="DATABASE_POOLER"):
        load_settings()
    monkeypatch.setenv("DATABASE_POOLER", "TRANSACTION")
    assert load_settings().database_pooler == "transaction"
