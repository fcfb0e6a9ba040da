"""The users trigger (migration 20261129_0007): every committed UPDATE or DELETE of a user
is announced on `energy_api_user_changed` with the user's id, once it commits.

Delivery after the commit matters: a listener told earlier would drop the user while the
old row is still what a lookup reads, and the lookup would cache it again. INSERTs are not
announced, and need not be: only users that were found active are ever cached.

The rows are committed to the suite's PostgreSQL database and deleted by each test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from energy_api.auth.principals import CHANNEL
from energy_api.db import asyncpg_dsn
from tests.auth.principal_support import WAIT_SECONDS, committed_users

pytestmark = pytest.mark.usefixtures("postgres_only")

SENTINEL = "sentinel"


@pytest.fixture
async def notifications(database_url: str) -> AsyncIterator[asyncio.Queue[str]]:
    """Payloads heard on the channel by a connection of its own, in order."""
    heard: asyncio.Queue[str] = asyncio.Queue()

    def on_notification(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        heard.put_nowait(payload)

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.add_listener(CHANNEL, on_notification)
        yield heard
    finally:
        await connection.close()


@pytest.fixture
async def writer(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def next_payload(heard: asyncio.Queue[str]) -> str:
    async with asyncio.timeout(WAIT_SECONDS):
        return await heard.get()


async def mark(connection: asyncpg.Connection) -> None:
    """A notification of our own: whatever is heard before it was sent before it."""
    await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, SENTINEL)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE users SET is_active = false WHERE id = $1",
        "UPDATE users SET role = 'admin' WHERE id = $1",
        "DELETE FROM users WHERE id = $1",
    ],
)
async def test_change_is_notified_with_the_id_after_it_commits(
    database_url: str,
    notifications: asyncio.Queue[str],
    writer: asyncpg.Connection,
    statement: str,
) -> None:
    async with committed_users(database_url) as [user]:
        transaction = writer.transaction()
        await transaction.start()
        try:
            await writer.execute(statement, user.id)
            other = await asyncpg.connect(asyncpg_dsn(database_url))
            try:
                await mark(other)
            finally:
                await other.close()
            assert await next_payload(notifications) == SENTINEL  # nothing before the commit
        finally:
            await transaction.commit()
        assert await next_payload(notifications) == str(user.id)


async def test_one_statement_changing_several_users_notifies_each(
    database_url: str, notifications: asyncio.Queue[str], writer: asyncpg.Connection
) -> None:
    async with committed_users(database_url, 3) as users:
        changed = users[:2]
        await writer.execute(
            "UPDATE users SET is_active = false WHERE id = ANY($1::int[])",
            [user.id for user in changed],
        )
        heard = {await next_payload(notifications) for _ in changed}
        assert heard == {str(user.id) for user in changed}
        await mark(writer)
        assert await next_payload(notifications) == SENTINEL  # and the third was not named
