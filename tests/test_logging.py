"""JSON log lines: one per request with its fields, the app's own events with the request id,
X-Request-ID accepted or generated and always echoed, and no secret in any line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.models import Role
from energy_api.observability.logging import configure_logging, redact
from tests.conftest import TEST_PASSWORD, make_settings
from tests.factories import create_client

LogLines = Callable[[], list[str]]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """Everything logged during the test, as the lines the process would write to stdout."""
    yield from _capture("json")


@pytest.fixture
def console_lines() -> Iterator[LogLines]:
    yield from _capture("console")


def _capture(log_format: str) -> Iterator[LogLines]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(
        make_settings("sqlite+aiosqlite://", log_format=log_format), stream=stream
    )

    def lines() -> list[str]:
        handler.flush()
        return [line for line in stream.getvalue().splitlines() if line]

    try:
        yield lines
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)


def records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def request_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [entry for entry in records(lines) if entry["logger"] == "energy_api.access"]


async def test_each_request_is_one_json_line_with_its_fields(
    client: AsyncClient, db_session: AsyncSession, users: Any, settings: Any, log_lines: LogLines
) -> None:
    from tests.conftest import access_token

    user = await users(Role.viewer)
    record = await create_client(db_session)
    headers = {"Authorization": f"Bearer {access_token(settings, user)}"}
    response = await client.get(f"/api/v1/clientes/{record.id}/", headers=headers)
    assert response.status_code == 200
    [line] = request_lines(log_lines())
    assert line["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/clientes/{id}/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["user_id"] == user.id
    assert line["client"] == "127.0.0.1"
    assert line["request_id"] == response.headers["X-Request-ID"]


async def test_unmatched_paths_are_logged_by_a_fixed_route_name(
    client: AsyncClient, log_lines: LogLines
) -> None:
    response = await client.get("/no/such/path/12345")
    assert response.status_code == 404
    [line] = request_lines(log_lines())
    assert line["route"] == "<unmatched>"
    assert line["status"] == 404


async def test_a_well_formed_request_id_is_kept_and_echoed(
    client: AsyncClient, log_lines: LogLines
) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "lb-7f3a:0001"})
    assert response.headers["X-Request-ID"] == "lb-7f3a:0001"
    assert request_lines(log_lines())[0]["request_id"] == "lb-7f3a:0001"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, 'quote"d', "semi;colon", ""])
async def test_a_malformed_request_id_is_replaced(
    client_without_database: AsyncClient, bad: str
) -> None:
    response = await client_without_database.get("/health/live", headers={"X-Request-ID": bad})
    echoed = response.headers["X-Request-ID"]
    assert echoed != bad
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)


async def test_a_request_id_that_looks_like_a_token_is_replaced_and_never_logged(
    client: AsyncClient, log_lines: LogLines
) -> None:
    """Request lines skip the redaction every other line passes, so a caller must not be able
    to make a token its request id."""
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    response = await client.get("/health/live", headers={"X-Request-ID": token})
    assert response.headers["X-Request-ID"] != token
    lines = log_lines()
    assert request_lines(lines)  # the request was logged
    assert token not in "\n".join(lines)


async def test_every_response_has_a_request_id(client_without_database: AsyncClient) -> None:
    first = await client_without_database.get("/health/live")
    second = await client_without_database.get("/openapi.json")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_the_apps_own_events_carry_the_request_id(
    client: AsyncClient, users: Any, log_lines: LogLines
) -> None:
    """The login throttle logs at INFO; that line names the request it happened in."""
    user = await users(Role.viewer)
    for _ in range(5):
        await client.post("/api/token/", json={"username": user.username, "password": "wrong"})
    response = await client.post(
        "/api/token/",
        json={"username": user.username, "password": "wrong"},
        headers={"X-Request-ID": "throttled-1"},
    )
    assert response.status_code == 429
    events = [e for e in records(log_lines()) if e["logger"] == "energy_api.auth.service"]
    assert any(e["request_id"] == "throttled-1" and "throttled" in e["message"] for e in events)


async def test_no_password_or_token_reaches_a_log(
    client: AsyncClient, users: Any, log_lines: LogLines
) -> None:
    """A login, its tokens used, refreshed and revoked, a failed login, and a careless log call
    and exception carrying secrets: none of the secrets is in any line."""
    user = await users(Role.admin)
    login = await client.post(
        "/api/token/", json={"username": user.username, "password": TEST_PASSWORD}
    )
    assert login.status_code == 200
    access, refresh = login.json()["access"], login.json()["refresh"]
    await client.get("/api/v1/usuarios/me/", headers={"Authorization": f"Bearer {access}"})
    renewed = await client.post("/api/token/refresh/", json={"refresh": refresh})
    await client.post("/api/token/revoke/", json={"refresh": renewed.json()["refresh"]})
    await client.post(
        "/api/token/", json={"username": user.username, "password": "wrong " + TEST_PASSWORD}
    )
    careless = logging.getLogger("energy_api.careless")
    careless.warning("Authorization: Bearer %s password=%s", access, TEST_PASSWORD)
    careless.warning("payload %s", {"password": TEST_PASSWORD, "refresh": refresh})
    try:
        raise ValueError(f"bad token {access}")
    except ValueError:
        careless.exception("failed")

    output = "\n".join(log_lines())
    assert "energy_api.careless" in output and "[redacted]" in output
    secrets = [TEST_PASSWORD, access, refresh, renewed.json()["access"], renewed.json()["refresh"]]
    for secret in secrets:
        assert secret not in output
    for token in (access, refresh):
        for part in token.split("."):
            assert part not in output


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("Authorization: Bearer abc.def.ghi", "Authorization: "),
        ('{"password": "hunter2"}', '{"password": '),
        ("senha=segredo&x=1", "senha="),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end", "token "),
    ],
)
def test_redact_masks_secret_values(line: str, kept: str) -> None:
    masked = redact(line)
    assert masked.startswith(kept)
    assert "[redacted]" in masked
    assert not any(secret in masked for secret in ("abc.def", "hunter2", "segredo", "eyJhbGci"))


def test_redact_keeps_ordinary_text() -> None:
    line = '{"method": "GET", "route": "/api/v1/clientes/{client_id}", "status": 200}'
    assert redact(line) == line


async def test_console_format_is_one_readable_line(
    client_without_database: AsyncClient, console_lines: LogLines
) -> None:
    await client_without_database.get("/health/live", headers={"X-Request-ID": "c-1"})
    [line] = [line for line in console_lines() if "energy_api.access" in line]
    assert "GET /health/live 200" in line
    assert "request_id=c-1" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
