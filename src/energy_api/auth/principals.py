"""The caller behind an access token, cached per process and kept right by the database.

Every authenticated request needs its user's role, and a deactivated user's tokens must fail on
their next use. Looking the user up costs a query on every request; instead each process keeps
the active users it has looked up (`PrincipalCache`), and PostgreSQL tells it when one changes:
a trigger on `users` sends `NOTIFY energy_api_user_changed, '<id>'` on every UPDATE or DELETE
(migration 20261129_0007), and `UserChangeListener` drops that user from the cache.

The cache answers only while the listener is connected. Before it connects, while its
connection is down (until it is back and the cache has been emptied), and on SQLite, every
request looks its user up. A notification arrives once the change commits, so a request that
starts in the moment between the commit and its delivery may still be let in. Entries also
expire after `ttl_seconds`, a bound on any staleness this design did not foresee.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from energy_api.auth.models import Role

logger = logging.getLogger(__name__)

CHANNEL = "energy_api_user_changed"
DEFAULT_TTL_SECONDS = 60.0
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """An active user, as much of it as authorization needs."""

    id: int
    username: str
    role: Role
    # `users.token_version`: tokens issued for another version are refused.
    token_version: int = 0


class PrincipalCache:
    """Active users by id, trusted only while `enabled`.

    `generation` changes with every invalidation. A request that missed reads the generation,
    looks the user up, and stores the result with the generation it read: if a change was
    notified in between, the entry is not stored, so a lookup that raced a deactivation cannot
    bring the old row back.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[int, tuple[float, Principal]] = {}
        self._generation = 0
        self._enabled = False

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, user_id: int) -> Principal | None:
        if not self._enabled:
            return None
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        expires_at, principal = entry
        if time.monotonic() >= expires_at:
            del self._entries[user_id]
            return None
        return principal

    def put(self, principal: Principal, generation: int) -> None:
        if not self._enabled or generation != self._generation:
            return
        if len(self._entries) >= self.max_entries and principal.id not in self._entries:
            self._entries.clear()
        self._entries[principal.id] = (time.monotonic() + self.ttl_seconds, principal)

    def invalidate(self, user_id: int | None = None) -> None:
        """Forget one user, or everyone (`None`)."""
        self._generation += 1
        if user_id is None:
            self._entries.clear()
        else:
            self._entries.pop(user_id, None)

    def enable(self) -> None:
        """Start answering, from empty: changes made while disabled were not heard."""
        self.invalidate()
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False
        self.invalidate()


class UserChangeListener:
    """Keeps a connection LISTENing on `CHANNEL` and the cache enabled only while it does.

    The connection is checked every `check_seconds` (a server that vanished without closing
    the socket is noticed too); when it fails the cache is disabled at once and the listener
    reconnects, waiting `retry_seconds` between attempts.
    """

    def __init__(
        self,
        dsn: str,
        cache: PrincipalCache,
        *,
        connect_timeout: float = 5.0,
        check_seconds: float = 5.0,
        retry_seconds: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.cache = cache
        self.connect_timeout = connect_timeout
        self.check_seconds = check_seconds
        self.retry_seconds = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self) -> None:
        """Start listening in the background; the app starts even when the database is down."""
        self._task = asyncio.create_task(self._run(), name="user-change-listener")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Until the listener is LISTENing (bound it with `asyncio.timeout`)."""
        await self._connected.wait()

    async def stop(self) -> None:
        self.cache.disable()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            user_id = int(payload)
        except ValueError:
            user_id = None
        self.cache.invalidate(user_id)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("user change listener lost its connection: %r", exc)
            finally:
                self._connected.clear()
                self.cache.disable()
            await asyncio.sleep(self.retry_seconds)

    async def _listen(self) -> None:
        connection: asyncpg.Connection = await asyncpg.connect(
            self.dsn,
            timeout=self.connect_timeout,
            server_settings={"application_name": "energy-api-listener"},
        )
        lost = asyncio.Event()

        def on_termination(_: Any) -> None:
            # Notifications sent from now on are not heard: stop trusting the cache at once.
            self.cache.disable()
            lost.set()

        try:
            connection.add_termination_listener(on_termination)
            await connection.add_listener(CHANNEL, self._notified)
            self.cache.enable()
            self._connected.set()
            logger.info("listening for user changes: cached authorization enabled")
            while True:
                try:
                    async with asyncio.timeout(self.check_seconds):
                        await lost.wait()
                except TimeoutError:
                    await connection.fetchval("SELECT 1", timeout=self.connect_timeout)
                else:
                    raise ConnectionError("the listening connection was closed")
        finally:
            with contextlib.suppress(Exception):
                connection.terminate()
