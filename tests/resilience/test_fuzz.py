"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation gets FUZZ_EXAMPLES generated requests in the fuzzing phase (100 by default;
`make fuzz` runs 1000), plus schemathesis's explicit-examples and coverage phases, positive and
negative, authenticated as an admin, against a PostgreSQL database of its own with committed
data. Every response must pass schemathesis's default checks: no server error, a documented
status code, content type and body schema, negative data rejected, positive data accepted,
and authentication not ignored.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.python.asgi import shutdown_lifespans

from energy_api import months
from energy_api.auth import passwords
from energy_api.auth.models import Role, User
from energy_api.clients.models import Client
from energy_api.consumptions.models import Consumption
from energy_api.db import create_engine, create_sessionmaker
from energy_api.main import create_app
from tests.conftest import access_token, make_settings
from tests.factories import cpf_from
from tests.resilience.conftest import base_url, create_own_database, own_database_url

SEED = 20261129
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
SEEDED_CLIENTS = 5

# The schema is read when the module is collected; the database behind the app is created by
# the module fixture below, before the first request starts the app's lifespan.
FUZZ_URL = own_database_url(base_url(), "energy_fuzz")
SETTINGS = make_settings(FUZZ_URL)
APP = create_app(SETTINGS)
ADMIN = User(id=1, username="fuzz-admin", password_hash="unused", role=Role.admin.value)
FIRST_CLIENT_ID = 1
schema = schemathesis.openapi.from_dict(
    json.loads(json.dumps(APP.openapi())),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # PostgreSQL cannot store NUL in text, so the API refuses it (422): positive data
            # must not contain it. Its refusal is tested in test_bad_input.py.
            "generation": {
                "max-examples": FUZZ_EXAMPLES,
                "database": "none",
                "allow-x00": False,
            },
            "headers": {"Authorization": f"Bearer {access_token(SETTINGS, ADMIN)}"},
        }
    ),
)
schema.app = APP
# Changing the caller's own password needs the current one, which generated data cannot know,
# and on success ends the token every request here uses; tests/auth/test_accounts.py covers it.
fuzzed = schema.exclude(operation_id="usuarios-change-password")
# /usuarios/{id}/ operations act on this user, not on the admin the token names (a password
# reset would end that token; demoting or deleting the last admin is refused anyway).
TARGET_USER_ID = 2


async def _seed(url: str) -> None:
    """The admin the token names, and a few clients with consumptions for ids to find."""
    engine = create_engine(url, make_settings(url))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            admin = User(username=ADMIN.username, password_hash="x", role=ADMIN.role)
            session.add(admin)
            await session.flush()
            assert admin.id == ADMIN.id  # the token was signed for it when the module loaded
            target = User(username="fuzz-target", password_hash="x", role=Role.viewer.value)
            session.add(target)
            await session.flush()
            assert target.id == TARGET_USER_ID
            for index in range(SEEDED_CLIENTS):
                client = Client(name=f"Cliente {index}", document=cpf_from(index + 1))
                session.add(client)
                await session.flush()
                assert client.id == FIRST_CLIENT_ID + index
                for back in range(3):
                    month = date(2024, 1, 1) - timedelta(days=31 * back)
                    session.add(
                        Consumption(
                            client_id=client.id,
                            month=month.replace(day=1),
                            kwh=Decimal(100 * index + back),
                        )
                    )
    finally:
        await engine.dispose()


# Requests sent per operation; written to $FUZZ_REPORT (JSON) when that is set.
SENT: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def fuzz_database() -> Iterator[None]:
    for _ in create_own_database(FUZZ_URL):
        asyncio.run(_seed(FUZZ_URL))
        try:
            yield
        finally:
            shutdown_lifespans()  # disposes the app's engine before the database is dropped
    if report := os.environ.get("FUZZ_REPORT"):
        Path(report).write_text(json.dumps(dict(sorted(SENT.items())), indent=2))


def follow_domain_rules(case: Any) -> None:
    """Keep positive bodies within the rules JSON Schema cannot state.

    A `documento` must carry valid CPF check digits, a `cliente` must exist, an
    Idempotency-Key must be new for a new request and an If-Match must name the record's
    current version: a positive case gets a valid CPF derived from what was generated, one of
    the seeded clients (the DELETE operations run last, see conftest.py), a fresh key and
    `If-Match: *`; a positive bulk load runs in `parcial` mode. Negative cases are sent as
    generated.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if case.headers and "Idempotency-Key" in case.headers:
        # A key names one distinct request; reusing it with another body is refused (422).
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    if case.headers and "If-Match" in case.headers:
        # A generated entity tag names no version of the record (412, tested in
        # tests/data/test_etags.py): the positive case asks for any current version.
        case.headers["If-Match"] = "*"
    if isinstance(case.query, dict):
        order_month_range(case.query)
    if case.operation.path == "/api/v1/usuarios/{id}/" and case.path_parameters:
        case.path_parameters["id"] = TARGET_USER_ID
    if case.operation.path == "/api/v1/consumos/lote/":
        # Generated rows break rules a schema cannot state (an unknown client, a month already
        # taken, a row repeated): in `parcial` mode they are reported in a 200, not a 422.
        case.query = {**(case.query or {}), "modo": "parcial"}
        if isinstance(case.body, dict):
            case.body["modo"] = "parcial"
        elif case.media_type == "text/csv":
            # A generated string is no CSV with these columns (400): send one that is.
            case.body = "cliente,mes,consumo_kwh\n1,2023-06,10.00\n"
    if not isinstance(case.body, dict):
        return
    body: dict[str, Any] = case.body
    if isinstance(body.get("password"), str):
        # The policy (a letter, a digit, not the username) is beyond JSON Schema.
        password = ("a1" + body["password"])[: passwords.MAX_LENGTH]
        if password.casefold() == str(body.get("username", "")).casefold():
            password = password[:-1] + ("9" if password[-1] != "9" else "8")
        body["password"] = password
    if isinstance(body.get("documento"), str):
        body["documento"] = cpf_from(zlib.crc32(body["documento"].encode()) % 999_999_998 + 1)
    cliente = body.get("cliente")
    if isinstance(cliente, int | float) and not isinstance(cliente, bool):
        body["cliente"] = FIRST_CLIENT_ID + (int(cliente) - 1) % SEEDED_CLIENTS


MONTHS_PER_PERIOD = {"mes": 1, "trimestre": 3, "ano": 12}
MAX_RANGE_MONTHS = 240


FIRST = months.index(months.FIRST_MONTH)
LAST = months.index(months.LAST_MONTH)


def _month_index(value: str) -> int:
    return months.index(months.parse_month_only(value))


def _month_text(index: int) -> str:
    return months.label(months.from_index(index))


def order_month_range(query: dict[str, Any]) -> None:
    """`de` ≤ `ate`, at most 240 months apart, whole periods when grouping by quarter or year."""
    de, ate = query.get("de"), query.get("ate")
    size = MONTHS_PER_PERIOD.get(str(query.get("agrupar", "mes")), 1)
    if isinstance(de, str) and not isinstance(ate, str):
        query["de"] = _month_text(max(FIRST, _month_index(de) - _month_index(de) % size))
        return
    if isinstance(ate, str) and not isinstance(de, str):
        end = _month_index(ate)
        query["ate"] = _month_text(min(LAST, end - end % size + size - 1))
        return
    if not (isinstance(de, str) and isinstance(ate, str)):
        return
    start, end = sorted((_month_index(de), _month_index(ate)))
    end = min(end, start + MAX_RANGE_MONTHS - 1)
    start -= start % size
    end = end - end % size + size - 1
    if end - start + 1 > MAX_RANGE_MONTHS:
        end -= size
    if start < FIRST or end > LAST:  # keep within the accepted range
        start, end = 2020 * 12, 2020 * 12 + size - 1
    query["de"], query["ate"] = _month_text(start), _month_text(end)


@fuzzed.parametrize()
def test_api_conforms_to_its_schema(case: Any) -> None:
    follow_domain_rules(case)
    SENT[case.operation.label] += 1
    case.call_and_validate()
