"""Helpers for the cached-authorization tests: a cache whose changes can be awaited, users
committed to the test database (and deleted afterwards), and a TCP proxy that can drop or
freeze the way to PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import delete, insert
from sqlalchemy.engine import make_url

from energy_api.auth.models import Role, User
from energy_api.auth.principals import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_TTL_SECONDS,
    Principal,
    PrincipalCache,
)
from energy_api.db import create_engine
from tests.conftest import make_settings

WAIT_SECONDS = 5.0


class WatchedCache(PrincipalCache):
    """A `PrincipalCache` that records what happened to it and lets a test await a state."""

    def __init__(
        self, *, ttl_seconds: float = DEFAULT_TTL_SECONDS, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds, max_entries=max_entries)
        self.enables = 0
        self.disables = 0
        self.invalidated: list[int | None] = []
        self._changed = asyncio.Event()

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def invalidate(self, user_id: int | None = None) -> None:
        super().invalidate(user_id)
        self.invalidated.append(user_id)
        self._touch()

    def enable(self) -> None:
        super().enable()
        self.enables += 1
        self._touch()

    def disable(self) -> None:
        super().disable()
        self.disables += 1
        self._touch()

    def put(self, principal: Principal, generation: int) -> None:
        super().put(principal, generation)
        self._touch()

    async def until(self, condition: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
        """Return once `condition()` holds, re-checked on every change; TimeoutError after
        `seconds`."""
        async with asyncio.timeout(seconds):
            while not condition():
                await self._changed.wait()


@dataclass(frozen=True)
class CommittedUser:
    id: int
    username: str


@asynccontextmanager
async def committed_users(url: str, count: int = 1) -> AsyncIterator[list[CommittedUser]]:
    """`count` active viewers committed to the database at `url`, deleted afterwards."""
    engine = create_engine(url, make_settings(url))
    users: list[CommittedUser] = []
    try:
        for _ in range(count):
            username = f"cached-{uuid.uuid4().hex[:12]}"
            async with engine.begin() as connection:
                user_id = await connection.scalar(
                    insert(User)
                    .values(username=username, password_hash="unused", role=Role.viewer.value)
                    .returning(User.id)
                )
            assert user_id is not None
            users.append(CommittedUser(user_id, username))
        yield users
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(User).where(User.id.in_([u.id for u in users])))
        await engine.dispose()


class Mode(enum.Enum):
    forward = "forward"  # pass bytes both ways
    refuse = "refuse"  # close every new connection at once (a database that is down)
    frozen = "frozen"  # keep the sockets open and pass nothing (a server that vanished)


class Proxy:
    """A TCP proxy in front of PostgreSQL whose behaviour a test switches (`mode`).

    With `hold_listen` set, a client's LISTEN command waits in the proxy (`listen_held` is
    set) until the test sets `hold_listen`.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.mode = Mode.forward
        self.accepted = 0
        self.hold_listen: asyncio.Event | None = None
        self.listen_held = asyncio.Event()
        self._accepting = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def dsn_for(self, url: str) -> str:
        """asyncpg's DSN for the database at `url`, through this proxy."""
        parsed = make_url(url).set(drivername="postgresql", host="127.0.0.1", port=self.port)
        return parsed.render_as_string(hide_password=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def until_accepted(self, count: int, seconds: float = WAIT_SECONDS) -> None:
        """Return once `count` connections have been accepted in all."""
        async with asyncio.timeout(seconds):
            while self.accepted < count:
                await self._accepting.wait()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._accepting.set()
        self._accepting = asyncio.Event()
        if self.mode is Mode.refuse:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers.update((writer, upstream_writer))
        pipes = ((reader, upstream_writer, True), (upstream_reader, writer, False))
        for source, sink, to_server in pipes:
            task = asyncio.create_task(self._pipe(source, sink, to_server=to_server))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, to_server: bool
    ) -> None:
        try:
            while data := await source.read(65536):
                if self.mode is Mode.frozen:
                    continue  # swallowed: the other side never hears of it
                if to_server and self.hold_listen is not None and b"LISTEN" in data:
                    self.listen_held.set()
                    await self.hold_listen.wait()
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()


@asynccontextmanager
async def proxy_to(url: str) -> AsyncIterator[Proxy]:
    parsed = make_url(url)
    proxy = Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
