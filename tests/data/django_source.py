"""A Django-shaped source database built with plain SQL: the tables of the system this service
replaces, with password hashes made exactly as Django writes them and dirty rows of every kind
the import must report."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

from tests.conftest import DEFAULT_PG_URL

SCHEMA = """
CREATE TABLE auth_user (
    id serial PRIMARY KEY,
    password varchar(128) NOT NULL,
    last_login timestamptz NULL,
    is_superuser boolean NOT NULL,
    username varchar(150) NOT NULL UNIQUE,
    first_name varchar(150) NOT NULL DEFAULT '',
    last_name varchar(150) NOT NULL DEFAULT '',
    email varchar(254) NOT NULL DEFAULT '',
    is_staff boolean NOT NULL,
    is_active boolean NOT NULL,
    date_joined timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE users_cliente (
    id serial PRIMARY KEY,
    nome varchar(255) NOT NULL,
    documento varchar(20) NOT NULL UNIQUE
);
CREATE TABLE consumption_consumo (
    id serial PRIMARY KEY,
    cliente_id integer NOT NULL REFERENCES users_cliente (id) DEFERRABLE INITIALLY DEFERRED,
    mes date NOT NULL,
    consumo_kwh numeric(12, 2) NOT NULL,
    data_registro timestamptz NOT NULL DEFAULT now()
);
"""

# Django's default for PBKDF2-SHA256 since 5.0; the cheap one keeps the other users fast.
DJANGO_ITERATIONS = 870_000
CHEAP_ITERATIONS = 1_000
ALICE_PASSWORD = "senha-da-alice-1"


def django_pbkdf2(password: str, *, salt: str, iterations: int) -> str:
    """`django.contrib.auth.hashers.PBKDF2PasswordHasher.encode`, by hand."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    encoded = base64.b64encode(digest).decode("ascii").strip()
    return f"pbkdf2_sha256${iterations}${salt}${encoded}"


USERS = [
    # (id, username, password hash, is_superuser, is_staff, is_active)
    (
        1,
        "alice",
        django_pbkdf2(ALICE_PASSWORD, salt="Xq3bYv0w", iterations=DJANGO_ITERATIONS),
        True,
        True,
        True,
    ),
    (
        2,
        "bob",
        django_pbkdf2("senha-do-bob-2", salt="a1b2c3d4", iterations=CHEAP_ITERATIONS),
        False,
        True,
        True,
    ),
    (
        3,
        "carol",
        django_pbkdf2("senha-da-carol-3", salt="zz99yy88", iterations=CHEAP_ITERATIONS),
        False,
        False,
        False,
    ),
    (4, "dave", "!Qm3rT7cUnusablePasswordFromDjango", False, False, True),
    (
        5,
        "eve smith",
        django_pbkdf2("x1y2z3w4", salt="s4lt", iterations=CHEAP_ITERATIONS),
        False,
        False,
        True,
    ),
    (6, "frank", "bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuv", False, False, True),
]

CLIENTS = [
    # (id, nome, documento as typed)
    (1, "Maria da Silva", "529.982.247-25"),
    (2, "João Pereira", "111.444.777-35"),
    (3, "Dígito Errado", "123.456.789-00"),
    (4, "Padaria A", "11.222.333/0001-81"),
    (5, "Padaria B", "11222333000181"),
    (6, "   ", "390.533.447-05"),
    (10, "Oficina Alfa", "12.ABC.345/01DE-35"),
]

CONSUMPTIONS = [
    # (id, cliente_id, mes, consumo_kwh, data_registro)
    (1, 1, "2024-01-01", "100.50", "2024-02-03 10:15:00+00"),
    (2, 1, "2024-02-15", "200.00", "2024-03-02 09:00:00+00"),
    (3, 1, "2024-03-01", "300.00", "2024-04-01 08:00:00+00"),
    (4, 1, "2024-03-20", "310.00", "2024-04-02 08:00:00+00"),
    (5, 1, "2024-04-01", "-5.00", "2024-05-01 08:00:00+00"),
    (6, 1, "2024-05-01", "100000000.00", "2024-06-01 08:00:00+00"),
    (7, 1, "1850-01-01", "1.00", "2024-06-01 08:00:00+00"),
    (8, 2, "2024-01-10", "10.00", "2024-02-01 08:00:00+00"),
    (9, 2, "2024-01-20", "20.00", "2024-02-01 08:00:00+00"),
    (10, 2, "2024-02-01", "30.00", "2024-03-01 08:00:00+00"),
    (11, 3, "2024-01-01", "50.00", "2024-02-01 08:00:00+00"),
    (12, 4, "2024-01-01", "60.00", "2024-02-01 08:00:00+00"),
    (13, 10, "2024-01-01", "70.25", "2024-02-01 08:00:00+00"),
    (14, 10, "2024-02-01", "1.99", "2024-03-01 08:00:00+00"),
]

# What a strict import makes of them.
IMPORTED_USERS = {"alice": "admin", "bob": "editor", "carol": "viewer"}
REJECTED_USERS = {4, 5, 6}
IMPORTED_CLIENTS = {1, 2, 10}
REJECTED_CLIENTS = {3, 4, 5, 6}
IMPORTED_CONSUMPTIONS = {1, 2, 3, 10, 13, 14}
REJECTED_CONSUMPTIONS = {4, 5, 6, 7, 8, 9, 11, 12}


def _admin_dsn() -> str:
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)
    return (
        make_url(base)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


async def fill(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(SCHEMA)
        await connection.executemany(
            "INSERT INTO auth_user (id, username, password, is_superuser, is_staff, is_active) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [(i, u, p, s, st, a) for i, u, p, s, st, a in USERS],
        )
        await connection.executemany(
            "INSERT INTO users_cliente (id, nome, documento) VALUES ($1, $2, $3)", CLIENTS
        )
        await connection.executemany(
            "INSERT INTO consumption_consumo (id, cliente_id, mes, consumo_kwh, data_registro) "
            "VALUES ($1, $2, $3::text::date, $4::text::numeric, $5::text::timestamptz)",
            CONSUMPTIONS,
        )
    finally:
        await connection.close()


@asynccontextmanager
async def django_database() -> AsyncIterator[str]:
    """A new database on the shared server holding the Django tables; dropped afterwards."""
    name = f"django_source_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_admin_dsn())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(_admin_dsn()).set(database=name).render_as_string(hide_password=False)
        await fill(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
